"""A speaker library shared by projects: named, reviewed speakers kept as voiceprints.

On disk (a folder; default: $XDG_DATA_HOME/speakerid-gui/library, else
~/.local/share/speakerid-gui/library; $SPEAKERID_GUI_DATA/library when that is set):
    library.json                 backend, threshold, speakers (name, provenance, counts), and
                                 the segment ids enrolled per speaker and project (never twice)
    reference_mean.npy           the fixed vector every embedding is centred on (see open_set.py)
    speakers/<id>/embeddings.npy raw segment embeddings (up to MAX_EMBEDDINGS per speaker)
    speakers/<id>/embeddings-ge2e.npy  GE2E embeddings of the segments enrolled from short-clip
                                 projects (which hold GE2E beside CAM++; cohort.py), kept on their own
    speakers/<id>/clips/*.wav    a few reference clips to listen to (16 kHz mono)
Raw embeddings are kept rather than one averaged voiceprint, so voiceprints are always rebuilt
the same way (centred on the library's own reference mean), whatever project they came from.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speakerid_gui.core.user_data import user_data_dir

# Cosine of centred means from which a cluster is taken to be the enrolled speaker. Calibrated on
# the model's different-speaker distribution where it matters: the best score a stranger's cluster
# reaches against a whole library. 99.5 % of those stay below 0.55, pooled over read speech,
# one-utterance speakers, command words and 8 kHz digits (199 stranger clusters); computed on
# three sets and tried on the fourth, the same rule gives 0.53-0.64 (benchmarks/library.py).
DEFAULT_THRESHOLD = 0.55
# A segment's own score (its centred embedding against a voiceprint) from which it takes that
# speaker's name on its own: pulled out of a cluster that matched someone else or no one. Segment
# scores run lower than cluster scores (one segment, not a mean), so this is kept above the best
# score of nearly every stranger's segment on the four sets (benchmarks/library.py).
DEFAULT_SEGMENT_THRESHOLD = 0.6
# Or when its score normalised against the library's own impostors reaches this (cohort.py: z of
# CAM++, summed with GE2E's where both are kept). Chosen on three sets and tried on the fourth
# (benchmarks/library.py's projects): 6 with test-other, tc100-cut or speech-commands held out,
# 5 with fsdd held out, which would name 5.8 % of fsdd's strangers; 6 names none there.
DEFAULT_SEGMENT_Z = 6.0
# The same on the symmetric score (cohort.s_norm), which replaces z from 10 enrolled speakers on:
# 7 names as few strangers as z did at 6 on the two sets with that many (tc100-cut 0.6 %,
# speech-commands 2.2 %, the latter all named by their raw scores), and more of the known.
DEFAULT_SEGMENT_S = 7.0
RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def voiceprint_backend(backend: str) -> str:
    """The backend a library made from a project keeps voiceprints of: the calibrated part of a
    combination (joint:campp=1,ge2e=0.5 -> campp; thresholds and reference means are CAM++'s)."""
    from speakerid_gui.core.cluster.same_speaker import calibrated_part

    return calibrated_part(backend) or backend


def project_backend(project) -> str:
    """The backend the project was analysed with ("auto" resolved)."""
    from speakerid_gui.core.pipeline import Settings, chosen_backend

    return chosen_backend(project, Settings(**project.get_meta("settings", {})))


def project_voices(project, library) -> np.ndarray:
    """The project's segment embeddings in the library's backend: its own, or the part of the
    combination it was analysed with (a short-clip project holds CAM++ beside GE2E)."""
    from speakerid_gui.core.embed import parts
    from speakerid_gui.core.pipeline import embeddings

    own = project_backend(project)
    if library.backend != own and library.backend not in parts(own):
        raise ValueError(f"{project.folder} was embedded with {own}; the library {library.folder} "
                         f"holds {library.backend} voiceprints")
    return embeddings(project, backend=library.backend)


def model_reference_mean(backend: str) -> np.ndarray:
    """The reference mean shipped for a backend (the mean embedding of varied public speech:
    read books, meetings, command words, digits at 8 kHz; see resources/README)."""
    path = RESOURCES / f"{backend.split(':')[0]}_reference_mean.npy"
    if not path.exists():
        raise ValueError(f"no reference mean for backend {backend!r} ({path} missing): "
                         "libraries support campp only")
    return np.load(path).astype(np.float32)


VERSION = 1
MAX_EMBEDDINGS = 300      # per speaker: plenty for a mean, small on disk (300 x 192 floats = 230 kB)
REFERENCE_CLIPS = 3
CONFIDENT = 0.6           # unverified segments enrol only above this clustering confidence
MIN_SEGMENTS = 1          # one segment is a weak voiceprint, but a single short clip may be all there is


def default_library_dir() -> Path:
    """The library in the user's data folder ($SPEAKERID_GUI_DATA, else the XDG data folder)."""
    return user_data_dir() / "library"


@dataclass
class Speaker:
    id: str
    name: str
    segments: int
    seconds: float
    projects: list
    created: float
    clips: list


@dataclass
class Enrolled:
    name: str
    speaker_id: str
    segments: int
    new: bool


class Library:
    def __init__(self, folder: str | os.PathLike, data: dict):
        self.folder = Path(folder)
        self.data = data

    # ---- opening -----------------------------------------------------------------------
    @classmethod
    def open(cls, folder: str | os.PathLike | None = None, create: bool = False, backend: str = "campp") -> "Library":
        folder = Path(folder) if folder else default_library_dir()
        meta = folder / "library.json"
        if meta.exists():
            try:
                data = json.loads(meta.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ValueError(f"{meta}: not a readable speaker library ({exc})") from None
            if data.get("version", 0) > VERSION:
                raise ValueError(f"{meta}: written by a newer version of speakerid-gui")
            return cls(folder, data)
        if not create:
            raise FileNotFoundError(f"{folder}: no speaker library here (library.json missing); "
                                    "`speakerid library add PROJECT` creates one")
        backend = voiceprint_backend(backend)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "reference_mean.npy", model_reference_mean(backend))
        lib = cls(folder, {"version": VERSION, "backend": backend, "threshold": DEFAULT_THRESHOLD,
                           "segment_threshold": DEFAULT_SEGMENT_THRESHOLD, "segment_z": DEFAULT_SEGMENT_Z,
                           "segment_s": DEFAULT_SEGMENT_S, "created": time.time(), "speakers": {}})
        lib.save()
        return lib

    @staticmethod
    def exists(folder: str | os.PathLike | None = None) -> bool:
        return ((Path(folder) if folder else default_library_dir()) / "library.json").exists()

    def save(self):
        tmp = self.folder / "library.json.tmp"
        tmp.write_text(json.dumps(self.data, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.folder / "library.json")  # a kill never leaves half a library

    # ---- contents ------------------------------------------------------------------------
    @property
    def backend(self) -> str:
        return self.data["backend"]

    @property
    def threshold(self) -> float:
        return float(self.data["threshold"])

    @property
    def segment_threshold(self) -> float:
        return float(self.data.get("segment_threshold", DEFAULT_SEGMENT_THRESHOLD))

    @property
    def segment_z(self) -> float:
        return float(self.data.get("segment_z", DEFAULT_SEGMENT_Z))

    @property
    def segment_s(self) -> float:
        return float(self.data.get("segment_s", DEFAULT_SEGMENT_S))

    def reference_mean(self) -> np.ndarray:
        return np.load(self.folder / "reference_mean.npy").astype(np.float32)

    def speakers(self) -> list[Speaker]:
        return sorted((Speaker(id=k, **v) for k, v in self.data["speakers"].items()), key=lambda s: s.name.lower())

    def find(self, name_or_id: str) -> Speaker:
        for s in self.speakers():
            if s.id == name_or_id or s.name == name_or_id:
                return s
        folded = [s for s in self.speakers() if s.name.casefold() == name_or_id.casefold()]
        if len(folded) == 1:
            return folded[0]
        raise KeyError(f"no speaker {name_or_id!r} in the library {self.folder}")

    def embeddings(self, speaker_id: str) -> np.ndarray:
        return np.load(self._dir(speaker_id) / "embeddings.npy")

    def part_embeddings(self, speaker_id: str, part: str) -> np.ndarray | None:
        """The speaker's rows of another part (cohort.EXTRA_PARTS), or None when none were kept."""
        return np.load(self._part_file(speaker_id, part)) if self.has_part(speaker_id, part) else None

    def has_part(self, speaker_id: str, part: str) -> bool:
        return self._part_file(speaker_id, part).exists()

    def _part_file(self, speaker_id: str, part: str) -> Path:
        return self._dir(speaker_id) / f"embeddings-{part}.npy"

    def _dir(self, speaker_id: str) -> Path:
        return self.folder / "speakers" / speaker_id

    # ---- changes -------------------------------------------------------------------------
    def remove(self, name_or_id: str) -> Speaker:
        s = self.find(name_or_id)
        del self.data["speakers"][s.id]
        self.data.get("enrolled", {}).pop(s.id, None)
        self.save()
        shutil.rmtree(self._dir(s.id), ignore_errors=True)
        return s

    def rename(self, name_or_id: str, new_name: str) -> Speaker:
        new_name = new_name.strip()
        if not new_name:
            raise ValueError("a speaker needs a non-empty name")
        s = self.find(name_or_id)
        clash = [o for o in self.speakers() if o.name == new_name and o.id != s.id]
        if clash:
            raise ValueError(f"the library already has a speaker named {new_name!r}: remove it first")
        self.data["speakers"][s.id]["name"] = new_name
        self.save()
        return self.find(s.id)

    def add_project(self, project, clusters: list[int] | None = None) -> list[Enrolled]:
        """Enrol the named clusters of a project (or the given ones): their verified segments,
        else their confidently clustered ones. A name already in the library gains the new
        segments (the same person in another project)."""
        emb = project_voices(project, self)
        extra = extra_voices(project, self)
        chosen = clusters if clusters is not None else reviewed_named_clusters(project)
        out = []
        for cid in chosen:
            name = project.cluster_name(cid)
            index = enrolment_segments(project, cid)
            if len(index) < MIN_SEGMENTS:
                continue
            out.append(self._enrol(project, name, index, emb[index], {k: v[index] for k, v in extra.items()}))
        self.save()
        return out

    def _enrol(self, project, name: str, index: np.ndarray, emb: np.ndarray, extra: dict | None = None) -> Enrolled:
        existing = [s for s in self.speakers() if s.name == name]
        new = not existing
        sid = existing[0].id if existing else _new_id(name)
        folder = self._dir(sid)
        (folder / "clips").mkdir(parents=True, exist_ok=True)
        # segments of this project enrolled before are not enrolled twice (adding a project again,
        # after more review, adds only what is new): their ids, per speaker and project
        seen = self.data.setdefault("enrolled", {}).setdefault(sid, {}).setdefault(str(project.folder.resolve()), [])
        ids = project.segment_ids[index].astype(np.int64)
        fresh = ~np.isin(ids, np.asarray(seen, dtype=np.int64))
        index, emb, extra = index[fresh], emb[fresh], {k: v[fresh] for k, v in (extra or {}).items()}
        seen.extend(ids[fresh].tolist())
        if not len(index):
            return Enrolled(name, sid, 0, new)
        _append_rows(folder / "embeddings.npy", emb)
        for part, rows in extra.items():  # kept on their own: a part's rows need not pair with the others
            _append_rows(self._part_file(sid, part), rows)
        seconds = float((project.seg_end[index] - project.seg_start[index]).sum())
        info = self.data["speakers"].get(sid) or {"name": name, "segments": 0, "seconds": 0.0, "projects": [],
                                                  "created": time.time(), "clips": []}
        info["segments"] += int(len(index))
        info["seconds"] = round(info["seconds"] + seconds, 3)
        if str(project.folder.resolve()) not in info["projects"]:
            info["projects"].append(str(project.folder.resolve()))
        if len(info["clips"]) < REFERENCE_CLIPS:
            info["clips"] += _save_clips(project, index, folder / "clips", REFERENCE_CLIPS - len(info["clips"]))
        self.data["speakers"][sid] = info
        return Enrolled(name, sid, int(len(index)), new)


def _append_rows(path: Path, rows: np.ndarray):
    old = np.load(path) if path.exists() else np.zeros((0, rows.shape[1]), np.float32)
    merged = np.concatenate([old, rows.astype(np.float32)])
    if len(merged) > MAX_EMBEDDINGS:  # keep an even spread over everything enrolled
        merged = merged[np.linspace(0, len(merged) - 1, MAX_EMBEDDINGS).round().astype(int)]
    np.save(path, merged)


def extra_voices(project, library) -> dict[str, np.ndarray]:
    """The project's embeddings of the parts a library keeps beside its backend (cohort.py),
    when its combination holds them: GE2E of a short-clip project."""
    from speakerid_gui.core.embed import parts
    from speakerid_gui.core.library.cohort import EXTRA_PARTS
    from speakerid_gui.core.pipeline import embeddings

    have = parts(project_backend(project))
    return {p: np.asarray(embeddings(project, backend=p)) for p in EXTRA_PARTS if p in have and p != library.backend}


def reviewed_named_clusters(project) -> list[int]:
    """Clusters with a name a person gave: a name the library itself gave (not yet accepted) only
    counts once some of the cluster's segments are verified."""
    auto = {m["cluster"] for m in project.get_meta("library_matches", []) or [] if m["status"] == "named"}
    out = []
    for cid, info in sorted(project.clusters.items()):
        members = project.cluster == cid
        if info["name"].strip() and members.any() and (cid not in auto or project.verified[members].any()):
            out.append(cid)
    return out


def enrolment_segments(project, cluster_id: int) -> np.ndarray:
    """Verified segments of a cluster if it has enough, else its confident unverified ones."""
    members = (project.cluster == cluster_id) & ~project.noise
    verified = np.flatnonzero(members & project.verified)
    if len(verified) >= MIN_SEGMENTS:
        return verified
    confident = np.flatnonzero(members & (project.confidence >= CONFIDENT))
    return confident if len(confident) >= MIN_SEGMENTS else np.flatnonzero(members)


def _new_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24] or "speaker"
    return f"{slug}-{uuid.uuid4().hex[:8]}"


def _save_clips(project, index: np.ndarray, folder: Path, n: int) -> list[str]:
    """The longest confident segments, as clips a person can listen to."""
    import soundfile as sf

    from speakerid_gui.core.audio.decode import AudioError, read_span

    order = index[np.lexsort((-project.confidence[index], -(project.seg_end[index] - project.seg_start[index])))]
    saved = []
    for i in order[: n * 3]:
        if len(saved) >= n:
            break
        try:
            wave = read_span(project.recording_path(int(project.seg_recording[i])),
                             float(project.seg_start[i]), float(project.seg_end[i]))
        except AudioError:
            continue  # the audio moved since analysis: the voiceprint does not need it
        name = f"clip-{len(list(folder.glob('clip-*.wav'))) + 1}.wav"
        sf.write(str(folder / name), wave, 16000, subtype="PCM_16")
        saved.append(f"clips/{name}")
    return saved
