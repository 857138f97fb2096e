"""Embedding backends: name -> factory. Heavy imports happen when a backend is built."""
from __future__ import annotations

from typing import Callable, Protocol

import numpy as np


class Backend(Protocol):
    name: str
    dim: int

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        """One row per 16 kHz mono float32 wave (lengths may differ)."""


class BackendUnavailable(RuntimeError):
    """The backend's weights or package are missing; the message says how to get them."""


_FACTORIES: dict[str, Callable[..., Backend]] = {}
DEFAULT_BACKEND = "campp"


def register(name: str):
    def deco(factory):
        _FACTORIES[name] = factory
        return factory
    return deco


def backend_names() -> list[str]:
    _load_builtin()
    return sorted(_FACTORIES)


def get_backend(name: str, **options) -> Backend:
    """A backend by name or by spec string `NAME:KEY=VALUE,...` (see parse_spec)."""
    _load_builtin()
    name, spec_options = parse_spec(name)
    if name not in _FACTORIES:
        raise KeyError(f"unknown backend {name!r}; choose one of {', '.join(backend_names())}")
    return _FACTORIES[name](**{**spec_options, **options})


def parse_spec(spec: str) -> tuple[str, dict]:
    """`whisper:model=/models/whisper-base,batch_size=8` -> ("whisper", {"model": ..., "batch_size": 8}).

    One string carries a backend and its options through --backend, Settings.backend and the
    cache names. Values that read as numbers become numbers; a value cannot hold a comma.
    """
    name, _, rest = spec.strip().partition(":")
    options = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"backend option {item!r} in {spec!r} is not KEY=VALUE")
        options[key.strip()] = _number_or_text(value.strip())
    return name.strip(), options


def _number_or_text(value: str):
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def spec_slug(spec: str) -> str:
    """A file-name-safe name for a backend spec: the spec itself when it is a plain name
    (`campp`), else the backend name and a hash of the spec (`whisper-3f2a9c1d0b`)."""
    import hashlib
    import re

    if re.fullmatch(r"[A-Za-z0-9_.-]+", spec):
        return spec
    return f"{parse_spec(spec)[0]}-{hashlib.sha1(spec.encode()).hexdigest()[:10]}"


def embed_segments(backend: Backend, waves: list[np.ndarray], spans: list[list[tuple[float, float]]],
                   clean: str | None = "none") -> np.ndarray:
    """Embeddings of the segments spans[k] (seconds) of every 16 kHz recording waves[k], in order.

    A backend that can share work between overlapping windows (CAM++: embed_spans) gets the
    whole recordings; otherwise, or when segments are cleaned, each segment is cut and embedded.
    """
    from ..clean import segment_waves

    if not any(spans):
        return np.zeros((0, backend.dim), np.float32)
    if hasattr(backend, "embed_spans") and clean in (None, "none"):
        return backend.embed_spans(waves, spans)
    return backend.embed([cut for wave, s in zip(waves, spans) for cut in segment_waves(wave, s, clean)])


def _load_builtin():
    # Importing the modules registers them; each keeps its torch/transformers imports lazy.
    from . import campp, ge2e, mfcc  # noqa: F401
    from . import prosody_rnn  # noqa: F401  (trained per project: get_backend(..., project=P))
    from . import joint  # noqa: F401  (combines any registered backends)
    try:
        from . import hf  # noqa: F401
    except ImportError:
        pass
