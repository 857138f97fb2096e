"""Joint embeddings (seed design): registered backends combined, each block L2-normalised and
scaled by a user weight, then concatenated.

Spec (works for --backend, Settings.backend and the cache names):

    joint:campp=1,mfcc=0.3                      CAM++ with MFCC statistics at weight 0.3
    joint:campp=1,prosody_rnn=0.5               CAM++ with the project's prosody RNN
    joint:campp=1,whisper=0.5,whisper.model=/models/whisper-base
                                                PART.OPTION=VALUE passes an option to a part

Each KEY=VALUE without a dot names a part and its weight (>= 0; 0 keeps the block's columns
but zeroes them, so it has no influence); dimension = sum of the parts' dimensions.

Centring. On a corpus (corpus_matrix) each block is L2-normalised, centred on the
corpus mean of that block, and L2-normalised again before its weight is applied. Why: raw
blocks share a large common direction (measured on 70 LibriSpeech windows: the mean of the
unit CAM++ vectors has norm 0.64, MFCC statistics 0.99), which the clustering removes
anyway (cluster.prepare centres); without per-block centring an MFCC block at weight 1
keeps only ~0.13 of its length after that centring while CAM++ keeps ~0.77, so the weights
would not mean what they say. With it, every segment's joint vector has norm sqrt(sum w^2)
and the cosine between two segments is the w^2-weighted mean of the blocks' (centred)
cosines. The corpus is assembled from each part's own per-recording cache, so CAM++ is never
computed twice and per-project parts (prosody_rnn, trained after analysis) join in.

On waves alone (JointBackend.embed, e.g. classifying new files) there is no corpus, so blocks
are L2-normalised without centring unless centres are given (`block_centres` of a corpus).
"""
from __future__ import annotations

import numpy as np

from speakerid_gui.core.project.cache import array_name
from speakerid_gui.core.project.store import settings_hash
from speakerid_gui.core.embed import BackendUnavailable, corpus_embeddings, get_backend, parse_spec, register

NAME = "joint"


def is_joint(spec: str) -> bool:
    return parse_spec(spec)[0] == NAME


def parts_of(spec_or_options) -> list[tuple[str, float]]:
    """[(part spec, weight)] of a joint spec string or of its options dict, in the given order.

    `joint:campp=1,whisper=0.5,whisper.model=/m` -> [("campp", 1.0), ("whisper:model=/m", 0.5)]
    """
    options = parse_spec(spec_or_options)[1] if isinstance(spec_or_options, str) else dict(spec_or_options)
    weights, part_options = {}, {}
    for key, value in options.items():
        part, dot, option = str(key).partition(".")
        if dot:
            part_options.setdefault(part, {})[option] = value
            continue
        try:
            weight = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"joint: weight of {part!r} must be a number, not {value!r}") from None
        if not weight >= 0:
            raise ValueError(f"joint: weight of {part!r} must be >= 0, not {value!r}")
        weights[part] = weight
    unknown = set(part_options) - set(weights)
    if unknown:
        raise ValueError(f"joint: options given for {', '.join(sorted(unknown))}, which is not a part "
                         f"(name it with a weight, e.g. {sorted(unknown)[0]}=1)")
    if not weights:
        raise ValueError("joint needs parts with weights, e.g. --backend joint:campp=1,mfcc=0.3")
    if NAME in weights:
        raise ValueError("a joint embedding cannot contain another joint embedding")
    parts = []
    for part, weight in weights.items():
        opts = part_options.get(part, {})
        spec = part + (":" + ",".join(f"{k}={v}" for k, v in opts.items()) if opts else "")
        parts.append((spec, weight))
    return parts


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def block_centres(blocks: list[np.ndarray]) -> list[np.ndarray]:
    """The corpus mean of each L2-normalised block (what combine subtracts)."""
    return [_unit(b).mean(axis=0) for b in blocks]


def combine(blocks: list[np.ndarray], weights: list[float], centres: list[np.ndarray] | None = None) -> np.ndarray:
    """Concatenate weight * unit(block) (centred first when centres are given)."""
    out = []
    for i, (block, weight) in enumerate(zip(blocks, weights)):
        u = _unit(block)
        if centres is not None:
            u = _unit(u - centres[i])
        out.append(np.float32(weight) * u)
    return np.concatenate(out, axis=1) if out else np.zeros((0, 0), np.float32)


def part_matrices(project, spec: str, seg_key: str, clean: str | None = None) -> list[np.ndarray]:
    """Each part's corpus matrix (raw, from its own caches), in the spec's order."""
    return [corpus_embeddings(project, part, seg_key, clean) for part, _ in parts_of(spec)]


def corpus_matrix(project, spec: str, seg_key: str, clean: str | None = None) -> np.ndarray:
    """The project's joint matrix: each part's assembled matrix, combined with per-block
    centring; cached as an array keyed by the spec and a digest of the parts' contents (a
    retrained prosody RNN keeps its array key but not its numbers)."""
    import hashlib

    parts = parts_of(spec)
    blocks = part_matrices(project, spec, seg_key, clean)
    name = array_name(spec)
    digests = [hashlib.sha1(np.ascontiguousarray(b, dtype=np.float32).view(np.uint8)).hexdigest() for b in blocks]
    key = settings_hash(spec, digests)
    cached = project.load_array(name, key)
    if cached is not None:
        return cached
    matrix = combine(blocks, [w for _, w in parts], block_centres(blocks))
    project.save_array(name, key, matrix)
    return matrix


class JointBackend:
    name = NAME

    def __init__(self, parts: list[tuple[str, float]], centres: list[np.ndarray] | None = None, project=None):
        self.parts = list(parts)
        self.weights = [w for _, w in self.parts]
        self.centres = centres
        self.backends = []
        for part, _ in self.parts:
            try:
                self.backends.append(get_backend(part, project=project))
            except BackendUnavailable as exc:
                raise BackendUnavailable(f"joint part {part}: {exc}") from None
        self.dim = int(sum(b.dim for b in self.backends))

    def embed(self, waves: list[np.ndarray]) -> np.ndarray:
        blocks = [b.embed(waves) for b in self.backends]
        return combine(blocks, self.weights, self.centres)


@register(NAME, project=True, parts=lambda spec: [part for part, _ in parts_of(spec)], assemble=corpus_matrix)
def _factory(centres=None, project=None, **options):
    """get_backend("joint:campp=1,mfcc=0.3") or get_backend("joint", campp=1, mfcc=0.3); project
    reaches the parts that need it (a prosody RNN trained on the project)."""
    return JointBackend(parts_of(options), centres, project)
