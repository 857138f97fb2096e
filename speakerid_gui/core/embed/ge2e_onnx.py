"""GE2E's network (3-layer LSTM, Linear, ReLU, L2 norm) as an ONNX graph for ONNX Runtime.

The graph is written from resemblyzer's checkpoint with ONNX's own LSTM operator, whose
sequence_lens input runs each partial over its own frames only, as torch's packed sequences
did: a padded batch gives what each partial alone gives (within 4e-7 of the torch network,
tests/core/test_embed_ge2e_mfcc.py).
Reading the checkpoint needs torch (an old torch pickle), so the graph is kept in the user's
cache folder: later runs never import torch (0.85 s of a run over 240 short clips).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from speakerid_gui.core.user_data import cache_file, write_atomically

GRAPH_VERSION = 1  # bump when the graph changes
HIDDEN = 256
LAYERS = 3
# GE2E loss parameters stored in the checkpoint; they play no part in inference.
LOSS_KEYS = ("similarity_weight", "similarity_bias")


def graph_file(weights: Path) -> Path:
    return cache_file("ge2e", weights, GRAPH_VERSION, suffix=".onnx")


def state_dict(weights: Path) -> dict[str, np.ndarray]:
    """The checkpoint's network weights as float32 arrays (resemblyzer's VoiceEncoder names)."""
    import torch

    checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
    return {k: v.float().numpy() for k, v in checkpoint["model_state"].items() if k not in LOSS_KEYS}


def _gates(w: np.ndarray) -> np.ndarray:
    """torch's gate order (input, forget, cell, output) -> ONNX's (input, output, forget, cell)."""
    i, f, g, o = np.split(w, 4, axis=0)
    return np.concatenate([i, o, f, g], axis=0)


def build(state: dict[str, np.ndarray]) -> bytes:
    """The graph: mels (batch, frames, 40) float32 and lens (batch,) int32 -> (batch, 256)."""
    from onnx import TensorProto, checker, helper, numpy_helper

    weights, nodes = [], [helper.make_node("Transpose", ["mels"], ["x0"], perm=[1, 0, 2])]  # time first

    def constant(name, array):
        weights.append(numpy_helper.from_array(np.ascontiguousarray(array), name))

    constant("axis0", np.array([0], np.int64))
    constant("axis1", np.array([1], np.int64))
    for n in range(LAYERS):
        constant(f"W{n}", _gates(state[f"lstm.weight_ih_l{n}"])[None])
        constant(f"R{n}", _gates(state[f"lstm.weight_hh_l{n}"])[None])
        constant(f"B{n}", np.concatenate([_gates(state[f"lstm.bias_ih_l{n}"]), _gates(state[f"lstm.bias_hh_l{n}"])])[None])
        nodes.append(helper.make_node("LSTM", [f"x{n}", f"W{n}", f"R{n}", f"B{n}", "lens"], [f"y{n}", f"h{n}"],
                                      hidden_size=HIDDEN))
        # (time, directions=1, batch, hidden) -> the next layer's (time, batch, hidden)
        nodes.append(helper.make_node("Squeeze", [f"y{n}", "axis1"], [f"x{n + 1}"]))
    constant("linear_w", state["linear.weight"].T)
    constant("linear_b", state["linear.bias"])
    nodes += [helper.make_node("Squeeze", [f"h{LAYERS - 1}", "axis0"], ["last"]),  # each partial's final state
              helper.make_node("Gemm", ["last", "linear_w", "linear_b"], ["linear"]),
              helper.make_node("Relu", ["linear"], ["raw"]),
              helper.make_node("LpNormalization", ["raw"], ["embedding"], axis=1, p=2)]
    graph = helper.make_graph(
        nodes, "ge2e", [helper.make_tensor_value_info("mels", TensorProto.FLOAT, ["batch", "frames", 40]),
                        helper.make_tensor_value_info("lens", TensorProto.INT32, ["batch"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", HIDDEN])], initializer=weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    checker.check_model(model)
    return model.SerializeToString()


def graph(weights: Path) -> bytes | str:
    """The kept graph's path, or the graph itself, built now and kept when the cache can be written."""
    path = graph_file(weights)
    if path.exists():
        return str(path)
    data = build(state_dict(weights))
    try:
        write_atomically(path, lambda f: f.write(data))
    except OSError:  # no cache folder, or a full disk: built again next time
        pass
    return data


class Ge2eSession:
    """One ONNX Runtime session of one thread: the backend's workers call it at once (run() is
    thread-safe and releases the GIL)."""

    def __init__(self, weights: Path):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(graph(weights), options, providers=["CPUExecutionProvider"])
        except Exception:  # a kept graph that no longer loads (damaged, another onnx): write it again
            graph_file(weights).unlink(missing_ok=True)
            self.session = ort.InferenceSession(graph(weights), options, providers=["CPUExecutionProvider"])

    def __call__(self, partials: list[np.ndarray]) -> np.ndarray:
        """Partials of (frames, 40) mels, any lengths -> (len(partials), 256) embeddings."""
        lens = np.array([len(p) for p in partials], np.int32)
        mels = np.zeros((len(partials), int(lens.max()), partials[0].shape[1]), np.float32)
        for row, p in enumerate(partials):
            mels[row, : len(p)] = p
        return self.session.run(None, {"mels": mels, "lens": lens})[0]
