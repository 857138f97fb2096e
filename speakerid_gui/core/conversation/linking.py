"""Who speaks when, with overlap: pyannote's speaker-diarization recipe on this project's parts.

1. segmentation.py: local activity of up to 3 speakers per frame of each sliding 10 s chunk.
2. local_embeddings: one speaker embedding (CAM++ by default) per (chunk, local speaker), from
   the audio where that speaker talks alone (all of its speech when that is too short); a local
   speaker whose speech alone scores as two voices is split in two first (voices.py).
3. link_speakers: the embeddings of the WHOLE corpus are clustered (cluster.py, its count
   estimate, with the one-speaker test that windows mode uses: clusters that score as one voice
   are merged), so one person keeps one identity in every recording; two local speakers of one
   chunk heard together never share a global speaker (the segmentation model told them apart),
   and one never heard alone takes a speaker heard alone in its recording (_heard_alone_first).
4. reconstruct: per frame, global activity is the overlap-add of the chunks' clustered activity,
   and the number of simultaneous speakers is the mean of the chunks' local counts rounded half up;
   the `count` most active speakers of each frame speak (pyannote's to_diarization).
5. agree_with_vad: speech silero-vad hears beside a turn continues it; speech it hears none of goes.
6. turns: runs of active frames per global speaker; overlapping turns of different speakers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from speakerid_gui.core.conversation.segmentation import SR, Chunks, frame_of_samples


@dataclass(frozen=True)
class ConversationSettings:
    step: float = 5.0          # seconds between the starts of 10 s chunks (pyannote: 1 s; 5 s keeps
                               # every frame in two chunks at a fifth of the cost)
    min_embed: float = 0.5     # seconds of a local speaker's speech needed for an embedding
    min_cluster: float = 2.0   # clean seconds a local speaker needs to shape the clustering (pyannote:
                               # 20 % of a chunk); shorter ones only join the nearest speaker
    min_gap: float = 0.0       # a speaker's pauses shorter than this are filled (pyannote 3.1: 0)
    min_apart: float = 0.5     # local speakers of one chunk heard together this long are two people
    min_short: float = 0.25    # a recording with no speaker reaching min_embed keeps speakers this long
    piece: float = 1.5         # seconds of speech alone per piece when a local speaker is tested for two voices
    split_clean: float = 3.0   # seconds alone a local speaker needs to be tested (voices.py)
    vad: bool = True           # turns agree with silero-vad's speech (agree_with_vad)
    min_turn: float = 0.05     # shorter runs are overlap-add noise (a speaker lingering a frame or
                               # two; 8 % of readers-talk's turns), not turns anyone could hear

    def key(self) -> str:
        return (f"conv-s{self.step:g}-e{self.min_embed:g}-c{self.min_cluster:g}-g{self.min_gap:g}"
                f"-a{self.min_apart:g}-h{self.min_short:g}-p{self.piece:g}-v{self.split_clean:g}"
                f"{'-vad' if self.vad else ''}-t{self.min_turn:g}")


@dataclass
class Local:
    """One recording's local analysis (what the analyse stage caches)."""
    chunks: Chunks
    embeddings: np.ndarray  # (chunks, local speakers, dim), NaN where no embedding
    clean: np.ndarray       # (chunks, local speakers) seconds of speech alone
    active: np.ndarray      # (chunks, local speakers) seconds of speech
    vad: np.ndarray | None = None  # (regions, 2) silero-vad's speech (s), where it was run

    def save(self, path):
        c = self.chunks
        vad = {} if self.vad is None else {"vad": np.asarray(self.vad, np.float64).reshape(-1, 2)}
        np.savez(path, activity=c.activity, starts=c.starts,
                 timing=np.array([c.duration, c.frame_step, c.frame_duration, c.total]),
                 embeddings=self.embeddings, clean=self.clean, active=self.active, **vad)

    @classmethod
    def load(cls, path) -> "Local":
        with np.load(path) as z:
            duration, step, frame_duration, total = z["timing"].tolist()
            chunks = Chunks(z["activity"], z["starts"], duration, step, frame_duration, total)
            return cls(chunks, z["embeddings"], z["clean"], z["active"], z["vad"] if "vad" in z else None)


# ---- 2. local embeddings ---------------------------------------------------------------------
def local_clips(wave: np.ndarray, chunks: Chunks, settings: ConversationSettings):
    """(chunk, speaker, clip) for each local speaker with enough speech, plus clean and active
    seconds per (chunk, speaker). A clip is the speaker's speech alone, glued together; when
    that is shorter than min_embed, all of its speech (pyannote falls back the same way)."""
    n_chunks, n_frames, n_local = chunks.activity.shape
    size = int(round(chunks.duration * SR))
    frames = frame_of_samples(chunks, size)
    act = chunks.activity.astype(bool)
    alone = act & (act.sum(axis=2, keepdims=True) == 1)
    clean = alone.sum(axis=1) * chunks.frame_step
    active = act.sum(axis=1) * chunks.frame_step
    clips = []
    quantum = int(0.25 * SR)  # clip lengths rounded down to 0.25 s, so clips batch by equal length
    for c in range(n_chunks):
        offset = int(round(chunks.starts[c] * SR))
        piece = wave[offset:offset + size]
        for k in range(n_local):
            for mask in (alone[c, :, k], act[c, :, k]):
                if mask.sum() * chunks.frame_step < settings.min_embed:
                    continue
                keep = mask[frames[:len(piece)]]
                clip = piece[keep]
                clip = clip[:len(clip) // quantum * quantum]
                if len(clip) >= settings.min_embed * SR:
                    clips.append((c, k, clip))
                    break
    return clips, clean, active


def local_embeddings(wave: np.ndarray, chunks: Chunks, backend, settings: ConversationSettings,
                     impostor: float | None = None) -> Local:
    """impostor: the backend's level between different speakers; with it, a local speaker holding
    two voices is split first (voices.py), without it (an uncalibrated backend) it is not."""
    from dataclasses import replace

    from speakerid_gui.core.conversation.voices import split_voices

    chunks = split_voices(wave, chunks, backend, settings.piece, settings.split_clean, impostor)
    clips, clean, active = local_clips(wave, chunks, settings)
    if not clips and active.max(initial=0) >= settings.min_short:
        # a short clip (a spoken digit, a one-word answer) still has a speaker: embed what there is
        clips, clean, active = local_clips(wave, chunks, replace(settings, min_embed=settings.min_short))
    n_chunks, _, n_local = chunks.activity.shape
    emb = np.full((n_chunks, n_local, backend.dim), np.nan, np.float32)
    if clips:
        vectors = backend.embed([clip for _, _, clip in clips])
        for (c, k, _), v in zip(clips, vectors):
            emb[c, k] = v
    return Local(chunks, emb, clean.astype(np.float32), active.astype(np.float32))


# ---- 3. linking local speakers across the corpus --------------------------------------------
def link_speakers(locals_: list[Local], settings: ConversationSettings, n_speakers: int | None = None,
                  method: str = "ahc", threshold: float | None = None,
                  impostor: float | None = None) -> list[np.ndarray]:
    """Global speaker per (chunk, local speaker) of each recording; -1 where none.

    impostor: the backend's mean cosine between different speakers (same_speaker.IMPOSTOR_COSINE);
    given, the clustering runs the one-speaker test on the raw embeddings, as windows mode does.
    Without it the silhouette cut alone split speakers: ami-debug's 27 people gave 16, 30 or 38
    clusters with chunk steps of 5, 2.5 or 1 s (DER 25.0, 28.1, 29.0 %); with it 15, 14 or 18
    (24.0, 24.5, 24.1 %)."""
    from speakerid_gui.core.cluster import agglomerative as clu
    from speakerid_gui.core.conversation.voices import rejoin_unheard

    rows, vectors, clean, voice = [], [], [], []
    for r, loc in enumerate(locals_):
        c_idx, k_idx = np.nonzero(np.isfinite(loc.embeddings[:, :, 0]))
        rows += [(r, c, k) for c, k in zip(c_idx.tolist(), k_idx.tolist())]
        vectors.append(loc.embeddings[c_idx, k_idx])
        clean.append(loc.clean[c_idx, k_idx])
        # the speech behind each embedding: its clean part, or all of it when that was too short
        c, a = loc.clean[c_idx, k_idx], loc.active[c_idx, k_idx]
        voice.append(np.where(c >= settings.min_embed, c, a))
    out = [np.full(loc.embeddings.shape[:2], -1, np.int32) for loc in locals_]
    if not rows:
        return out
    raw = np.concatenate(vectors)
    X = clu.prepare(raw)
    clean, voice = np.concatenate(clean), np.concatenate(voice)
    train = clean >= settings.min_cluster
    if train.sum() < 2:  # too little clean speech anywhere (short clips): every embedding takes part
        train = np.ones(len(X), bool)
    labels = clu.cluster(X[train], n_speakers, method, threshold, durations=voice[train],
                         raw=None if impostor is None else raw[train], impostor=impostor)
    ids, C = clu.centroids(X[train], labels)
    scores = X @ C.T
    groups = [(r, c) for r, c, _ in rows]
    apart = _apart(locals_, rows, settings.min_apart)
    assigned = constrained_assignment(scores, groups, apart)
    overlapped = clean < settings.min_embed  # embedded from speech over someone else's (local_clips)
    if overlapped.any() and not overlapped.all():
        assigned = constrained_assignment(_heard_alone_first(scores, assigned, rows, overlapped), groups, apart)
    for (r, c, k), label in zip(rows, ids[assigned]):
        out[r][c, k] = label
    return [rejoin_unheard(lab) for lab in out]


OUTSIDE = 2.0  # more than any two cosines differ; finite, so a chunk's constraint stays solvable


def _heard_alone_first(scores: np.ndarray, assigned: np.ndarray, rows, overlapped: np.ndarray) -> np.ndarray:
    """Scores where a local speaker never heard alone (its embedding is a mix of its voice and
    the voice it talks over) prefers the global speakers heard alone in its own recording: any
    other is OUTSIDE lower, more than cosines differ. The mixed vector's nearest centroid was
    often someone from another recording (ami-debug trn09: a man talking over a woman took a
    speaker of dev01). ami-debug DER 23.4 -> 21.9 % (confusion 17.0 -> 13.6 s), its telephone
    copy 38.3 -> 37.8 %; on 8 random 10-clip subsets of each, better on 6 (2 equal) and on 7
    (one 0.1 worse). Any speaker whose embedding rests on clean speech counts as heard: holding
    every local speaker with less than min_cluster seconds alone to those with more, 25.1 %."""
    recording = np.array([r for r, _, _ in rows])
    out = scores.copy()
    for r in np.unique(recording[overlapped]):
        heard = np.unique(assigned[(recording == r) & ~overlapped])
        if len(heard):
            outside = np.setdiff1d(np.arange(scores.shape[1]), heard)
            out[np.ix_(np.flatnonzero((recording == r) & overlapped), outside)] -= OUTSIDE
    return out


def constrained_assignment(scores: np.ndarray, groups: list, apart: dict | None = None) -> np.ndarray:
    """Best cluster per row, where rows of one group (local speakers of one chunk) that must be
    apart take different clusters when there are enough (Hungarian on the similarities).
    apart[(group, i, j)]: rows i and j (positions in the group) speak at the same time, so they
    are two people; local speakers that never overlap may be one person the model split in two."""
    from scipy.optimize import linear_sum_assignment

    best = np.argmax(scores, axis=1)
    order = {}
    for i, g in enumerate(groups):
        order.setdefault(g, []).append(i)
    for g, members in order.items():
        if len(members) < 2 or len(members) > scores.shape[1]:
            continue
        clash = [(a, b) for a in range(len(members)) for b in range(a + 1, len(members))
                 if best[members[a]] == best[members[b]] and (apart is None or apart.get((g, a, b), False))]
        if not clash:
            continue
        r, c = linear_sum_assignment(-scores[members])
        best[np.array(members)[r]] = c
    return best


def _apart(locals_: list[Local], rows, min_apart: float) -> dict:
    """(group, i, j) -> True when local speakers i and j of a chunk (positions among the chunk's
    embedded speakers) speak together for at least min_apart seconds."""
    members: dict = {}
    for r, c, k in rows:
        members.setdefault((r, c), []).append(k)
    out = {}
    for (r, c), ks in members.items():
        act = locals_[r].chunks.activity[c].astype(bool)
        step = locals_[r].chunks.frame_step
        for a in range(len(ks)):
            for b in range(a + 1, len(ks)):
                out[((r, c), a, b)] = (act[:, ks[a]] & act[:, ks[b]]).sum() * step >= min_apart
    return out


# ---- 4. reconstruction, 5. agreement with VAD, 6. turns -------------------------------------
def reconstruct(loc: Local, labels: np.ndarray, n_global: int) -> tuple[np.ndarray, np.ndarray]:
    """(frames, n_global) binary global activity on the recording's frame grid, and the count."""
    ch = loc.chunks
    n_chunks, n_frames, n_local = ch.activity.shape
    total_frames = int(np.ceil(ch.total / ch.frame_step)) + 1
    span = int(np.rint((ch.starts[-1]) / ch.frame_step)) + n_frames
    size = max(total_frames, span)
    activation = np.zeros((size, max(n_global, 1)), np.float32)
    count_sum = np.zeros(size, np.float32)
    covered = np.zeros(size, np.float32)
    local_count = ch.activity.sum(axis=2).astype(np.float32)
    for c in range(n_chunks):
        s = int(np.rint(ch.starts[c] / ch.frame_step))
        count_sum[s:s + n_frames] += local_count[c]
        covered[s:s + n_frames] += 1
        # max over the local speakers mapped to one global speaker (normally at most one is)
        clustered = np.zeros((n_frames, activation.shape[1]), np.float32)
        for k in range(n_local):
            g = labels[c, k]
            if g >= 0:
                clustered[:, g] = np.maximum(clustered[:, g], ch.activity[c, :, k])
        activation[s:s + n_frames] += clustered
    # Rounded half up: with a 5 s step most frames lie in two chunks, so ties (one chunk hears a
    # speaker the other does not) are common, and np.rint (pyannote's, with a 1 s step) sent 0.5
    # to 0 but 1.5 to 2. ami-debug DER 23.9 -> 23.4 %, its telephone copy 38.2 -> 36.1 %.
    count = np.floor(count_sum / np.maximum(covered, 1) + 0.5).astype(np.int64)
    # the `count` most active speakers of each frame (and only speakers some chunk heard there)
    order = np.argsort(-activation, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(activation.shape[1])[None, :].repeat(size, 0), axis=1)
    binary = (ranks < count[:, None]) & (activation > 0)
    keep = min(total_frames, size)
    return binary[:keep], count[:keep]


def turns(binary: np.ndarray, loc: Local, min_gap: float = 0.0,
          min_turn: float = 0.0) -> list[tuple[float, float, int]]:
    """(start, end, global speaker) runs of at least min_turn seconds; boundaries at frame
    centres, clipped to the recording."""
    ch = loc.chunks
    out = []
    centre = ch.frame_duration / 2
    for g in range(binary.shape[1]):
        runs = []
        for a, b in _runs(binary[:, g]):
            start, end = centre + a * ch.frame_step, centre + b * ch.frame_step
            if runs and start - runs[-1][1] < min_gap:
                runs[-1][1] = end
            else:
                runs.append([start, end])
        for start, end in runs:
            start, end = max(0.0, start), min(ch.total, end)
            if end - start > 1e-6 and end - start >= min_turn:
                out.append((round(start, 3), round(end, 3), g))
    return sorted(out)


def diarize(locals_: list[Local], settings: ConversationSettings, n_speakers: int | None = None,
            method: str = "ahc", threshold: float | None = None, impostor: float | None = None):
    """(turns (start, end, speaker) of every recording, local->global labels); speakers are
    shared across recordings. impostor: see link_speakers."""
    labels = link_speakers(locals_, settings, n_speakers, method, threshold, impostor)
    n_global = max([int(l.max(initial=-1)) for l in labels] + [-1]) + 1
    out = []
    for loc, lab in zip(locals_, labels):
        binary, _ = reconstruct(loc, lab, n_global)
        if settings.vad and loc.vad is not None:
            binary = agree_with_vad(binary, loc)
        out.append(turns(binary, loc, settings.min_gap, settings.min_turn))
    return out, labels


def agree_with_vad(binary: np.ndarray, loc: Local) -> np.ndarray:
    """The turns made to agree with silero-vad's speech. Speech VAD hears where no chunk marks
    anyone, beside a turn, continues that turn (between two turns, each gets the half beside it);
    a VAD run touching no turn stays empty. Then a run of speech (anyone's) that VAD hears none of
    is dropped. segmentation-3.0 trims words at turn edges and misses much more on narrowband
    speech (twice the wideband missed speech on a telephone copy of ami-debug); silero, trained on
    8 and 16 kHz alike, is what windows mode detects speech with."""
    ch = loc.chunks
    mid = ch.frame_duration / 2 + (np.arange(len(binary)) + 0.5) * ch.frame_step
    vad = np.zeros(len(binary), bool)
    for a, b in np.asarray(loc.vad).reshape(-1, 2):
        vad |= (mid >= a) & (mid < b)
    out = binary.copy()
    second = max(1, int(round(1.0 / ch.frame_step)))
    for a, b in _runs(vad & ~binary.any(axis=1)):  # frames a .. b-1
        left = _ongoing(binary[max(a - second, 0):a][::-1]) if a > 0 else None
        right = _ongoing(binary[b:b + second]) if b < len(binary) else None
        if left is not None and right is not None:
            half = (a + b) // 2
            out[a:half, left] = True
            out[half:b, right] = True
        elif left is not None or right is not None:
            out[a:b, left if left is not None else right] = True
    for a, b in _runs(out.any(axis=1)):
        if not vad[a:b].any():
            out[a:b] = False
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, end) of each run of True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _ongoing(beside: np.ndarray) -> int | None:
    """Of the speakers active in the first frame beside a gap (frames in order away from it, up to
    1 s), the one active longest there; None when nobody is."""
    who = np.flatnonzero(beside[0])
    if len(who) <= 1:
        return int(who[0]) if len(who) else None
    return int(who[beside[:, who].sum(axis=0).argmax()])


def speech_regions(loc: Local) -> list[tuple[float, float]]:
    """Where the chunks' mean count says someone speaks (for prosody and the speech total)."""
    _, count = reconstruct(loc, np.full(loc.embeddings.shape[:2], -1, np.int32), 1)
    ch = loc.chunks
    centre = ch.frame_duration / 2
    return [(max(0.0, centre + a * ch.frame_step), min(ch.total, centre + b * ch.frame_step))
            for a, b in _runs(count > 0)]


def turn_embeddings(locals_: list[Local], labels: list[np.ndarray], recording: int,
                    recording_turns: list[tuple[float, float, int]]) -> np.ndarray:
    """A raw embedding per turn: the mean of its speaker's local embeddings in the chunks it overlaps."""
    loc, lab = locals_[recording], labels[recording]
    ch = loc.chunks
    dim = loc.embeddings.shape[2]
    out = np.zeros((len(recording_turns), dim), np.float32)
    ends = ch.starts + ch.duration
    for i, (a, b, g) in enumerate(recording_turns):
        chunk_ok = (ch.starts < b) & (ends > a)
        sel = (lab == g) & chunk_ok[:, None]
        if not sel.any():
            sel = lab == g
        if sel.any():
            out[i] = loc.embeddings[sel].mean(axis=0)
    return out
