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
    _load_builtin()
    if name not in _FACTORIES:
        raise KeyError(f"unknown backend {name!r}; choose one of {', '.join(backend_names())}")
    return _FACTORIES[name](**options)


def _load_builtin():
    # Importing the modules registers them; each keeps its torch/transformers imports lazy.
    from . import campp, ge2e, mfcc  # noqa: F401
    try:
        from . import hf  # noqa: F401
    except ImportError:
        pass
