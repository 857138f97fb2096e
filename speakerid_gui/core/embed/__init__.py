"""Embedding backends: name -> factory. Heavy imports happen when a backend is built.

A backend declares what it needs when it registers (`register(name, project=True, ...)`, see Needs),
so the pipeline never names a backend: a per-project model is given the project, a combination
of backends is analysed part by part and assembles its corpus matrix from the parts' caches.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from speakerid_gui.core.project.cache import backend_matrix, spec_slug  # noqa: F401  (spec_slug: cache names, importable here)
from speakerid_gui.core.wheel_files import BackendUnavailable  # noqa: F401  (raised by the backends)


class Backend(Protocol):
    name: str
    dim: int

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        """One row per 16 kHz mono float32 wave (lengths may differ)."""


@dataclass(frozen=True)
class Needs:
    """What a backend needs beyond waves, declared at registration."""
    project: bool = False                          # trained per project: get_backend passes project=
    parts: Callable[[str], list[str]] | None = None  # spec -> the backend specs it combines
    assemble: Callable | None = None               # (project, spec, seg_key, clean) -> its corpus matrix
    matrix_tag: Callable | None = None             # project -> what else its stored numbers depend on


_FACTORIES: dict[str, Callable[..., Backend]] = {}
_NEEDS: dict[str, Needs] = {}
DEFAULT_BACKEND = "campp"


def register(name: str, **declared):
    """Decorator of a backend factory; declared: the fields of Needs that apply to it."""
    def deco(factory):
        _FACTORIES[name] = factory
        _NEEDS[name] = Needs(**declared)
        return factory
    return deco


def needs(spec: str) -> Needs:
    _load_builtin()
    return _NEEDS.get(parse_spec(spec)[0], Needs())


def parts(spec: str) -> list[str]:
    """The backends a combined backend is built from ([] for a plain one)."""
    n = needs(spec)
    return n.parts(spec) if n.parts else []


def corpus_embeddings(project, spec: str, seg_key: str, clean: str | None = None) -> np.ndarray:
    """(n_segments, dim) embeddings of the project's segments for a backend spec, from the caches
    the analysis wrote (see cache.py); a combined backend assembles its own from its parts'."""
    n = needs(spec)
    if n.assemble:
        return n.assemble(project, spec, seg_key, clean)
    return backend_matrix(project, spec, seg_key, clean, n.matrix_tag(project) if n.matrix_tag else None)


def backend_names() -> list[str]:
    _load_builtin()
    return sorted(_FACTORIES)


def get_backend(name: str, project=None, **options) -> Backend:
    """A backend by name or by spec string `NAME:KEY=VALUE,...` (see parse_spec). project: given
    to the backends that declared they need it (and ignored by the others)."""
    _load_builtin()
    name, spec_options = parse_spec(name)
    if name not in _FACTORIES:
        raise KeyError(f"unknown backend {name!r}; choose one of {', '.join(backend_names())}")
    if project is not None and _NEEDS[name].project:
        options["project"] = project
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


class Stacked:
    """Several backends over the same segments, their raw columns side by side: a combination's
    parts analysed in one pass (one decode and one speech detection for all), each part's block
    exactly what that backend alone computes (split() gives them back for its own cache)."""

    def __init__(self, specs: list[str], backends: list[Backend]):
        self.specs, self.backends = list(specs), list(backends)
        self.name = "+".join(self.specs)
        self.dim = int(sum(b.dim for b in self.backends))

    def split(self, emb: np.ndarray) -> list[np.ndarray]:
        return np.split(emb, np.cumsum([b.dim for b in self.backends])[:-1], axis=1)


def embed_segments(backend: Backend, waves: list[np.ndarray], spans: list[list[tuple[float, float]]],
                   clean: str | None = "none") -> np.ndarray:
    """Embeddings of the segments spans[k] (seconds) of every 16 kHz recording waves[k], in order.

    A backend that can share work between overlapping windows (CAM++: embed_spans) gets the
    whole recordings; otherwise, or when segments are cleaned, each segment is cut and embedded.
    """
    from speakerid_gui.core.audio.clean import segment_waves

    if not any(spans):
        return np.zeros((0, backend.dim), np.float32)
    if isinstance(backend, Stacked):
        return np.hstack([embed_segments(b, waves, spans, clean) for b in backend.backends])
    if hasattr(backend, "embed_spans") and clean in (None, "none"):
        return backend.embed_spans(waves, spans)
    return backend.embed([cut for wave, s in zip(waves, spans) for cut in segment_waves(wave, s, clean)])


def _load_builtin():
    # Importing the modules registers them; each keeps its torch/transformers imports lazy.
    from speakerid_gui.core.embed import campp, ge2e, mfcc  # noqa: F401
    from speakerid_gui.core.embed import prosody_rnn  # noqa: F401  (trained per project: get_backend(..., project=P))
    from speakerid_gui.core.embed import joint  # noqa: F401  (combines any registered backends)
    try:
        from speakerid_gui.core.embed import hf  # noqa: F401
    except ImportError:
        pass
