"""Transformers backends (seed designs): AST fine-tuned on AudioSet, the Whisper encoder, and
a speaker-verification WavLM x-vector.

    --backend ast        MIT/ast-finetuned-audioset-10-10-0.4593   pooled output (pool=mean: mean of
                         the patch tokens that cover the audio); 768-dim
    --backend whisper    openai/whisper-base     encoder states mean-pooled over the frames that
                         cover the audio (Whisper pads every input to 30 s); 512-dim
    --backend wavlm      microsoft/wavlm-base-plus-sv   x-vector embeddings; 512-dim

Each takes `model=` (a Hugging Face id or a local folder with config.json and the weights),
e.g. `--backend whisper:model=/models/whisper-small`. Weights are read with
local_files_only=True: from that folder or from the user's Hugging Face cache, never
downloaded. Without them the backend raises BackendUnavailable saying how to get them, and
the pipeline falls back to the default backend with a warning.

AST and Whisper see fixed-size inputs (AST: 1024 fbank frames, ~10 s; Whisper: 30 s), so
any batch gives the same rows as one wave at a time; longer waves are cut into pieces whose
embeddings are averaged (weighted by length). WavLM sees the waves themselves: models with
layer-normalised convolutions (feat_extract_norm="layer") are batched with zero padding and
an attention mask; with group norm (wavlm-base-plus-sv) the norm's statistics would include
the padding, so only waves of equal length share a batch (fixed windows mostly are).
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from speakerid_gui.core.audio.decode import SAMPLE_RATE
from speakerid_gui.core.embed import BackendUnavailable, register

SR = SAMPLE_RATE
DEFAULT_MODELS = {
    "ast": "MIT/ast-finetuned-audioset-10-10-0.4593",
    "whisper": "openai/whisper-base",
    "wavlm": "microsoft/wavlm-base-plus-sv",
}


def _load(kind: str, model: str | None, loader):
    """Run loader(source) -> (extractor, network) on a local folder or a cached id, offline."""
    try:
        import transformers  # noqa: F401
    except ImportError:
        raise BackendUnavailable(f"{kind}: the transformers package is not installed "
                                 "(pip install 'speakerid-gui[hf]' or pip install transformers)") from None
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars would break the CLI's progress lines
    source = str(model or DEFAULT_MODELS[kind])
    folder = Path(source).expanduser()
    if folder.is_dir():
        source = str(folder)
    elif source.startswith(("/", ".", "~")) or source.count("/") > 1:  # a path, not an owner/name id
        raise BackendUnavailable(
            f"{kind}: model folder {folder} not found. Pass a folder holding config.json and the weights "
            f"(--backend {kind}:model=/path/to/folder), or a Hugging Face id already in your cache: fetch "
            f"one once with `huggingface-cli download {DEFAULT_MODELS[kind]}`")
    try:
        return loader(source)
    except (OSError, ValueError):  # not in the cache / not a model folder / bad id
        hub_id = model if model and not folder.is_dir() else DEFAULT_MODELS[kind]
        where = "this folder holds no usable model" if folder.is_dir() else "not in the local Hugging Face cache"
        raise BackendUnavailable(
            f"{kind}: no local copy of the model {source!r} ({where}). Nothing is downloaded "
            f"while analysing: fetch it once with `huggingface-cli download {hub_id}` (or `hf download "
            f"{hub_id}`), or pass a folder holding config.json and the weights, e.g. "
            f"--backend {kind}:model=/path/to/folder") from None


def _threads(threads):
    import torch

    if threads:
        torch.set_num_threads(int(threads))


def _pieces(waves: list[np.ndarray], max_len: int | None, min_len: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Waves cut into pieces of at most max_len samples (each padded to min_len): (pieces, owner row)."""
    pieces, owners = [], []
    for row, wave in enumerate(waves):
        wave = np.asarray(wave, dtype=np.float32)
        step = max_len or max(len(wave), 1)
        for start in range(0, max(len(wave), 1), step):
            piece = wave[start:start + step]
            if start and len(piece) < min_len and pieces and owners[-1] == row:
                continue  # a sliver at the end adds nothing
            if len(piece) < min_len:
                piece = np.pad(piece, (0, min_len - len(piece)))
            pieces.append(piece)
            owners.append(row)
    return pieces, np.array(owners, dtype=np.int64)


def _weighted_rows(vectors: np.ndarray, owners: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """Per owner row, the weight-averaged vectors of its pieces."""
    out = np.zeros((n, vectors.shape[1]), dtype=np.float64)
    total = np.zeros(n)
    np.add.at(out, owners, vectors * weights[:, None])
    np.add.at(total, owners, weights)
    return (out / np.maximum(total, 1e-12)[:, None]).astype(np.float32)


class _FixedInputBackend:
    """Shared by AST and Whisper: each piece becomes one fixed-size input, so batches need no mask."""

    max_samples: int
    min_samples = 400
    batch_size: int

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        import torch

        if not waves:
            return np.zeros((0, self.dim), np.float32)
        pieces, owners = _pieces(waves, self.max_samples, self.min_samples)
        vectors = np.zeros((len(pieces), self.dim), np.float32)
        with torch.inference_mode():
            for start in range(0, len(pieces), self.batch_size):
                batch = pieces[start:start + self.batch_size]
                vectors[start:start + len(batch)] = self._forward(batch)
        lengths = np.array([len(p) for p in pieces], dtype=np.float64)
        return _weighted_rows(vectors, owners, lengths, len(waves))


# ---- AST ---------------------------------------------------------------------------------------------
class AstBackend(_FixedInputBackend):
    name = "ast"

    def __init__(self, model: str | None = None, pool: str = "pooled", batch_size: int = 8,
                 threads: int | None = None):
        if pool not in ("pooled", "mean"):
            raise ValueError(f"ast: pool must be 'pooled' or 'mean', not {pool!r}")

        def loader(source):
            from transformers import ASTFeatureExtractor, ASTModel

            return (ASTFeatureExtractor.from_pretrained(source, local_files_only=True),
                    ASTModel.from_pretrained(source, local_files_only=True))

        _threads(threads)
        self.extractor, self.model = _load("ast", model, loader)
        self.model.eval()
        cfg = self.model.config
        self.pool = pool
        self.batch_size = int(batch_size)
        self.dim = int(cfg.hidden_size)
        # fbank: 25 ms frames every 10 ms, no centring; max_length frames fill the input.
        self.max_samples = (int(self.extractor.max_length) - 1) * 160 + 400
        self.freq_patches = (cfg.num_mel_bins - cfg.patch_size) // cfg.frequency_stride + 1
        self.time_patches = (cfg.max_length - cfg.patch_size) // cfg.time_stride + 1

    def _forward(self, batch: list[np.ndarray]) -> np.ndarray:
        import torch

        feats = self.extractor(batch, sampling_rate=SR, return_tensors="pt")
        out = self.model(feats["input_values"])
        if self.pool == "pooled":
            return out.pooler_output.float().numpy()
        # Patch tokens follow the 2 summary tokens, frequency-major (f * time_patches + t): keep
        # the time columns whose patches start inside the audio (the rest cover padding).
        cfg = self.model.config
        patches = out.last_hidden_state[:, 2:].reshape(len(batch), self.freq_patches, self.time_patches, -1)
        frames = torch.tensor([max(1, (len(w) - 400) // 160 + 1) for w in batch])
        valid_t = torch.clamp((frames - 1) // cfg.time_stride + 1, 1, self.time_patches)
        mask = (torch.arange(self.time_patches)[None, :] < valid_t[:, None]).float()
        summed = (patches * mask[:, None, :, None]).sum(dim=(1, 2))
        return (summed / (mask.sum(1) * self.freq_patches)[:, None]).float().numpy()


# ---- Whisper -------------------------------------------------------------------------------------------
class WhisperBackend(_FixedInputBackend):
    name = "whisper"

    def __init__(self, model: str | None = None, batch_size: int = 8, threads: int | None = None):
        def loader(source):
            from transformers import WhisperFeatureExtractor, WhisperModel

            return (WhisperFeatureExtractor.from_pretrained(source, local_files_only=True),
                    WhisperModel.from_pretrained(source, local_files_only=True))

        _threads(threads)
        self.extractor, full = _load("whisper", model, loader)
        self.encoder = full.get_encoder().eval()  # the decoder is never used
        del full
        self.batch_size = int(batch_size)
        self.dim = int(self.encoder.config.d_model)
        self.max_samples = int(self.extractor.n_samples)
        self.hop = int(self.extractor.hop_length)
        # mel frames per encoder frame (2: the second convolution has stride 2)
        self.stride = int(self.extractor.nb_max_frames) // int(self.encoder.config.max_source_positions)

    def valid_frames(self, n_samples: int) -> int:
        """Encoder frames that cover n samples of real audio (the rest of the 30 s is padding)."""
        mel = math.ceil(n_samples / self.hop)
        return int(min(max(1, math.ceil(mel / self.stride)), self.encoder.config.max_source_positions))

    def encode(self, batch: list[np.ndarray]):
        """(B, frames, d_model) encoder states of the padded 30 s inputs."""
        import torch

        feats = self.extractor(batch, sampling_rate=SR, return_tensors="pt")
        with torch.inference_mode():
            return self.encoder(feats["input_features"]).last_hidden_state

    def _forward(self, batch: list[np.ndarray]) -> np.ndarray:
        import torch

        hidden = self.encode(batch)
        valid = torch.tensor([self.valid_frames(len(w)) for w in batch])
        mask = (torch.arange(hidden.shape[1])[None, :] < valid[:, None]).to(hidden.dtype)
        pooled = (hidden * mask[..., None]).sum(1) / valid[:, None].to(hidden.dtype)
        return pooled.float().numpy()


# ---- WavLM x-vector ---------------------------------------------------------------------------------------
class WavlmBackend:
    name = "wavlm"
    min_samples = SR // 2  # the x-vector's TDNN needs frames; shorter waves are zero-padded to 0.5 s

    def __init__(self, model: str | None = None, batch_size: int = 8, threads: int | None = None):
        def loader(source):
            from transformers import Wav2Vec2FeatureExtractor, WavLMForXVector

            return (Wav2Vec2FeatureExtractor.from_pretrained(source, local_files_only=True),
                    WavLMForXVector.from_pretrained(source, local_files_only=True))

        _threads(threads)
        self.extractor, self.model = _load("wavlm", model, loader)
        self.model.eval()
        cfg = self.model.config
        self.batch_size = int(batch_size)
        self.dim = int(cfg.xvector_output_dim)
        self.can_pad = cfg.feat_extract_norm == "layer"
        # frames lost by the TDNN's unpadded dilated convolutions
        self.tdnn_shrink = sum((k - 1) * d for k, d in zip(cfg.tdnn_kernel, cfg.tdnn_dilation))

    def _batches(self, lengths: np.ndarray):
        order = np.argsort(lengths, kind="stable")  # similar lengths together: little padding
        if self.can_pad:
            for start in range(0, len(order), self.batch_size):
                yield order[start:start + self.batch_size]
            return
        for length in np.unique(lengths):
            same = order[lengths[order] == length]
            for start in range(0, len(same), self.batch_size):
                yield same[start:start + self.batch_size]

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        import torch

        waves = [np.asarray(w, dtype=np.float32) for w in waves]
        waves = [np.pad(w, (0, self.min_samples - len(w))) if len(w) < self.min_samples else w for w in waves]
        out = np.zeros((len(waves), self.dim), np.float32)
        lengths = np.array([len(w) for w in waves])
        with torch.inference_mode():
            for idx in self._batches(lengths):
                out[idx] = self._forward([waves[i] for i in idx])
        return out

    def _forward(self, batch: list[np.ndarray]) -> np.ndarray:
        """WavLMForXVector's own forward, except that statistics pooling uses each wave's true
        frame count (transformers' version ignores the TDNN dilations, so with padding it
        would pool a few frames computed from the padding)."""
        import torch

        m = self.model
        feats = self.extractor(batch, sampling_rate=SR, padding=True, return_attention_mask=True,
                               return_tensors="pt")
        mask = feats["attention_mask"]
        with warnings.catch_warnings():  # torch's notice about mixing mask dtypes, once per batch
            warnings.filterwarnings("ignore", message=".*mismatched key_padding_mask")
            out = m.wavlm(feats["input_values"], attention_mask=mask,
                          output_hidden_states=bool(m.config.use_weighted_layer_sum))
        if m.config.use_weighted_layer_sum:
            stacked = torch.stack(out.hidden_states, dim=1)
            weights = torch.softmax(m.layer_weights, dim=-1)
            hidden = (stacked * weights.view(-1, 1, 1)).sum(dim=1)
        else:
            hidden = out.last_hidden_state
        hidden = m.projector(hidden)
        for layer in m.tdnn:
            hidden = layer(hidden)
        frames = m._get_feat_extract_output_lengths(mask.sum(dim=1)) - self.tdnn_shrink
        stats = []
        for i, n in enumerate(frames.clamp(min=2).tolist()):
            h = hidden[i, :n]
            stats.append(torch.cat([h.mean(dim=0), h.std(dim=0)]))
        return m.feature_extractor(torch.stack(stats)).float().numpy()


@register("ast")
def _ast(**options):
    return AstBackend(**options)


@register("whisper")
def _whisper(**options):
    return WhisperBackend(**options)


@register("wavlm")
def _wavlm(**options):
    return WavlmBackend(**options)
