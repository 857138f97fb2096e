"""The speaker library: enrol named speakers, list / rename / remove, and name a second project's
clusters with an open-set decision (strangers stay anonymous)."""
import json
from collections import Counter

import numpy as np
import pytest

from coredata import copy_libri, libri_rows, pick_libri, run_cli


def majority_names(project, truth: dict) -> np.ndarray:
    paths = {r.id: r.path for r in project.recordings()}
    return np.array([truth[paths[int(r)]] for r in project.seg_recording], dtype=object)


@pytest.fixture(scope="module")
def enrolled(session_project, tmp_path_factory):
    """The session project's 4 speakers named as a reviewer would, enrolled in a fresh library."""
    import shutil

    from speakerid_gui.core.project.edits import EditLog
    from speakerid_gui.core.project.store import Project

    root = tmp_path_factory.mktemp("lib")
    folder = root / "project"
    shutil.copytree(session_project.folder, folder)
    project = Project.open(folder)
    truth = majority_names(project, session_project.truth)
    for cid in sorted(project.cluster_sizes()):
        EditLog(project).rename(cid, "reader " + Counter(truth[project.cluster == cid]).most_common(1)[0][0])
    project.close()
    library = root / "library"
    proc = run_cli("library", "add", folder, "--library", library, check=True)
    return folder, library, proc


@pytest.fixture(scope="module")
def second_project(session_project, tmp_path_factory):
    """Other utterances of 2 enrolled speakers plus 2 strangers, analysed with the defaults."""
    used = {r["path"] for r in pick_libri()}
    enrolled_speakers = sorted(set(session_project.truth.values()))[:2]
    speakers = sorted({r["speaker"] for r in libri_rows()})
    strangers = [s for s in speakers if s not in set(session_project.truth.values())][:2]
    rows = []
    for spk in enrolled_speakers + strangers:
        mine = sorted((r for r in libri_rows() if r["speaker"] == spk and r["path"] not in used
                       and 3.0 <= float(r["duration_s"]) <= 12.0), key=lambda r: r["path"])
        rows += mine[:3]
    root = tmp_path_factory.mktemp("second")
    truth = copy_libri(rows, root / "audio")
    return root, truth, set(enrolled_speakers), set(strangers)


def test_add_and_list(enrolled):
    from speakerid_gui.core.library.enrolled import Library

    _, folder, proc = enrolled
    assert proc.stdout.count("added") == 4
    lib = Library.open(folder)
    assert len(lib.speakers()) == 4 and lib.backend == "campp"
    for s in lib.speakers():
        emb = lib.embeddings(s.id)
        assert emb.shape[1] == 192 and len(emb) == s.segments >= 2
        assert s.clips and all((folder / "speakers" / s.id / c).exists() for c in s.clips)
    assert (folder / "reference_mean.npy").exists()
    listed = run_cli("library", "list", "--library", folder, check=True).stdout
    assert all(s.name in listed for s in lib.speakers())


def test_adding_a_project_again_enrols_only_its_new_segments(enrolled, tmp_path):
    """A project added twice (the app's "Add named speakers" pressed again) gave every speaker its
    segments twice; now the second time changes nothing. A speaker removed and added again is
    enrolled anew."""
    from speakerid_gui.core.library.enrolled import Library
    from speakerid_gui.core.project.store import Project

    project_dir, _, _ = enrolled
    lib_dir = tmp_path / "library"
    run_cli("library", "add", project_dir, "--library", lib_dir, check=True)

    def state():
        lib = Library.open(lib_dir)
        return {s.name: (s.segments, len(lib.embeddings(s.id))) for s in lib.speakers()}

    before = state()
    proc = run_cli("library", "add", project_dir, "--library", lib_dir, check=True)
    assert proc.stdout.count("unchanged") == 4 and state() == before
    name = sorted(before)[0]
    run_cli("library", "remove", name, "--library", lib_dir, check=True)
    p = Project.open(project_dir)
    try:
        added = {e.name: e.segments for e in Library.open(lib_dir).add_project(p)}
    finally:
        p.close()
    assert added == {**{n: 0 for n in before}, name: before[name][0]} and state() == before


@pytest.mark.slow
def test_run_with_library_names_known_speakers_and_leaves_strangers(enrolled, second_project, tmp_path):
    from speakerid_gui.core.project.store import Project

    _, library, _ = enrolled
    root, truth, known, strangers = second_project
    project_dir = tmp_path / "p"
    proc = run_cli("run", root / "audio", "--project", project_dir, "--library", library, "--quiet",
                   "--layout", "pca", "--no-prosody", check=True)
    assert "library:" in proc.stdout
    project = Project.open(project_dir)
    who = majority_names(project, truth)
    names = np.array([project.cluster_name(int(c)) for c in project.cluster], dtype=object)
    is_known = np.array([t in known for t in who])
    assert np.mean(names[is_known] == np.array(["reader " + t for t in who[is_known]])) >= 0.95
    assert not any(n.startswith("reader ") for n in names[~is_known])  # no stranger takes an enrolled name
    matches = project.get_meta("library_matches")
    assert {m["status"] for m in matches} <= {"named", "proposed"} and len(matches) == len(project.cluster_sizes())
    project.close()


def test_reject_makes_a_cluster_anonymous_and_it_stays_so(enrolled, session_project, tmp_path):
    import shutil

    from speakerid_gui.core.library.enrolled import Library
    from speakerid_gui.core.library.open_set import apply_matches, match_project, set_status
    from speakerid_gui.core.project.store import Project

    _, library, _ = enrolled
    shutil.copytree(session_project.folder, tmp_path / "p")
    project = Project.open(tmp_path / "p")  # the enrolment audio itself: every cluster matches
    lib = Library.open(library)
    matches = apply_matches(project, match_project(project, lib))
    assert all(m.status == "named" and m.score > lib.threshold for m in matches)
    cid = matches[0].cluster
    # names the library gave are not a reviewer's: they are not enrolled again until accepted/verified
    from speakerid_gui.core.library.enrolled import reviewed_named_clusters

    assert reviewed_named_clusters(project) == []
    set_status(project, cid, "rejected")
    assert project.cluster_name(cid) == f"S{cid}"
    again = apply_matches(project, match_project(project, lib))
    assert [m.status for m in again if m.cluster == cid] == ["rejected"] and project.cluster_name(cid) == f"S{cid}"
    set_status(project, cid, "accepted")
    assert project.cluster_name(cid) == matches[0].name
    assert reviewed_named_clusters(project) == [cid]
    project.close()


def test_rename_remove_and_merge_by_name(enrolled, tmp_path):
    import shutil

    from speakerid_gui.core.library.enrolled import Library

    folder, library, _ = enrolled
    lib_copy = tmp_path / "lib"
    shutil.copytree(library, lib_copy)
    first = Library.open(lib_copy).speakers()[0]
    run_cli("library", "rename", first.name, "Grace Hopper", "--library", lib_copy, check=True)
    assert Library.open(lib_copy).find("grace hopper").id == first.id  # names match case-insensitively
    clash = run_cli("library", "rename", "Grace Hopper", Library.open(lib_copy).speakers()[1].name,
                    "--library", lib_copy)
    assert clash.returncode == 1 and "already has a speaker" in clash.stderr
    # enrolling the same project again: the 3 speakers still named alike hold its segments already;
    # the renamed one's old name is a new speaker
    again = run_cli("library", "add", folder, "--library", lib_copy, check=True).stdout
    assert again.count("unchanged") == 3 and again.count("added") == 1
    run_cli("library", "remove", "Grace Hopper", "--library", lib_copy, check=True)
    assert not (lib_copy / "speakers" / first.id).exists()
    missing = run_cli("library", "remove", "nobody", "--library", lib_copy)
    assert missing.returncode == 1 and "no speaker 'nobody'" in missing.stderr


def test_bad_libraries_are_named(tmp_path, session_project):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "library.json").write_text("{not json")
    proc = run_cli("library", "list", "--library", bad)
    assert proc.returncode == 1 and "library.json" in proc.stderr and "not a readable" in proc.stderr
    none = run_cli("library", "list", "--library", tmp_path / "none")
    assert none.returncode == 1 and "no speaker library here" in none.stderr
    # a project without named clusters enrols nothing, and says why
    proc = run_cli("library", "add", session_project.folder, "--library", tmp_path / "new")
    assert proc.returncode == 3 and "no named cluster" in proc.stderr


def test_default_library_follows_the_data_folders(monkeypatch, tmp_path):
    from speakerid_gui.core.library.enrolled import default_library_dir

    monkeypatch.delenv("SPEAKERID_GUI_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_library_dir() == tmp_path / "xdg" / "speakerid-gui" / "library"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_library_dir() == tmp_path / "home" / ".local" / "share" / "speakerid-gui" / "library"


def test_library_json_is_plain(enrolled):
    _, library, _ = enrolled
    data = json.loads((library / "library.json").read_text())
    assert data["version"] == 1 and data["backend"] == "campp" and 0 < data["threshold"] < 1
    assert all({"name", "segments", "seconds", "projects", "clips"} <= set(s) for s in data["speakers"].values())


@pytest.mark.parametrize("module", ["speakerid_gui.core.library.enrolled", "speakerid_gui.core.library.open_set",
                                    "speakerid_gui.core.formats.clips", "speakerid_gui.core.formats.labels_in",
                                    "speakerid_gui.core.formats.tiers", "speakerid_gui.cli_library"])
def test_new_modules_import_light(module):
    import subprocess
    import sys

    heavy = ["torch", "sklearn", "umap", "praatio", "pympi", "webvtt", "soxr", "PySide6"]
    code = f"import json, sys, {module}\nprint(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_library_help():
    for args in (["library", "--help"], ["library", "add", "--help"], ["run", "--help"], ["export", "--help"]):
        proc = run_cli(*args, check=True)
        assert "usage: speakerid" in proc.stdout
    assert "--library" in run_cli("run", "--help").stdout and "--labels" in run_cli("run", "--help").stdout
    assert "clips" in run_cli("export", "--help").stdout


# ---- naming per segment (open_set.plan_names and what match_project / apply_matches do with it) ----
def _unit_rows(X):
    X = np.asarray(X, dtype=np.float64)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _voices(seed=0, dim=32):
    """Unit voiceprints of 3 enrolled speakers and one stranger, mutually orthogonal."""
    rng = np.random.default_rng(seed)
    return np.linalg.qr(rng.normal(size=(dim, 4)))[0].T


def _segments(voice, n, noise, rng):
    return _unit_rows(voice[None, :] + noise * rng.normal(size=(n, len(voice))))


def test_a_mixed_cluster_names_only_the_segments_that_agree_with_it():
    from speakerid_gui.core.library.open_set import plan_names

    rng = np.random.default_rng(1)
    voices = _voices()
    V, stranger = voices[:3], voices[3]
    # cluster 0: 6 segments of speaker 0 and 2 of the stranger; cluster 1: 3 of speaker 1 and 1 of speaker 2
    leaning = _unit_rows([stranger + 0.4 * V[1]])[0]  # a stranger who sounds a little like speaker 1
    X = np.concatenate([_segments(V[0], 6, 0.15, rng), _segments(leaning, 2, 0.1, rng),
                        _segments(V[1], 3, 0.15, rng), _segments(V[2], 1, 0.15, rng)])
    cluster = np.array([0] * 8 + [1] * 4)
    plan = plan_names(X, cluster, V, threshold=0.55, segment_threshold=0.6)
    assert plan["named"].tolist() == [True, True]  # both clusters clear the threshold as a whole
    # the per-cluster rule would name the stranger's 2 segments after speaker 0; per segment they stay anonymous
    assert plan["speaker"].tolist() == [0] * 6 + [-1, -1] + [1, 1, 1] + [2]
    # without the segment threshold, the speaker 2 segment of cluster 1 is only taken out, not named
    alone = plan_names(X, cluster, V, threshold=0.55, segment_threshold=1.01)
    assert alone["speaker"][-1] == -1 and alone["speaker"][:6].tolist() == [0] * 6


def test_segments_of_an_anonymous_cluster_are_pulled_to_their_speaker_only_on_a_strong_score():
    from speakerid_gui.core.library.open_set import plan_names

    rng = np.random.default_rng(2)
    voices = _voices(3)
    V, stranger = voices[:3], voices[3]
    # a stranger's cluster holding one clear segment of speaker 1 and one weak (noisy) one of speaker 2
    weak = _unit_rows([0.5 * V[2] + 0.9 * _unit_rows(rng.normal(size=(1, V.shape[1])))[0]])
    X = np.concatenate([_segments(stranger, 6, 0.15, rng), _segments(V[1], 1, 0.1, rng), weak])
    cluster = np.zeros(len(X), int)
    plan = plan_names(X, cluster, V, threshold=0.55, segment_threshold=0.6)
    assert not plan["named"][0]
    assert plan["segment_score"][6] >= 0.6 > plan["segment_score"][7]
    assert plan["speaker"].tolist() == [-1] * 6 + [1, -1]
    # a verified segment keeps its cluster's verdict; a rejected (cluster, speaker) pair is never re-proposed
    fixed = np.zeros(len(X), bool)
    fixed[6] = True
    assert plan_names(X, cluster, V, 0.55, 0.6, fixed=fixed)["speaker"][6] == -1
    assert plan_names(X, cluster, V, 0.55, 0.6, rejected={(0, 1)})["speaker"][6] == -1
    assert plan_names(X, cluster, V, 0.55, 0.6, locked={0})["speaker"][6] == -1


def test_matching_splits_a_merged_cluster_back_into_its_enrolled_speakers(enrolled, session_project, tmp_path):
    """Constrained assignment end to end: two enrolled speakers merged into one cluster come out
    as two clusters with their own names, in one undoable edit."""
    import shutil

    from speakerid_gui.core.project.edits import EditLog
    from speakerid_gui.core.library.enrolled import Library
    from speakerid_gui.core.library.open_set import apply_matches, match_project
    from speakerid_gui.core.project.store import Project

    _, library, _ = enrolled
    shutil.copytree(session_project.folder, tmp_path / "p")
    project = Project.open(tmp_path / "p")
    truth = majority_names(project, session_project.truth)
    first, second = sorted(project.cluster_sizes())[:2]
    log = EditLog(project)
    log.merge([first, second])
    merged = project.cluster.copy()
    assert len(project.cluster_sizes()) == 3
    lib = Library.open(library)
    matches = apply_matches(project, match_project(project, lib), log=log)
    names = np.array([project.cluster_name(int(c)) for c in project.cluster], dtype=object)
    assert np.mean(names == np.array(["reader " + t for t in truth])) >= 0.95
    assert len(project.cluster_sizes()) >= 4 and len(matches) == len(project.cluster_sizes())
    assert sum(m.moved for m in matches) > 0 and all(m.status == "named" for m in matches)
    log.undo()  # the moves and the names are one edit
    assert np.array_equal(project.cluster, merged)
    project.close()


def test_cohort_z_measures_a_score_against_the_other_enrolled_speakers():
    """z of a voiceprint is in units of its impostors' spread, the other speakers' segments:
    a new segment of a speaker scores high, a stranger's stays low, and with fewer than three
    speakers (no cohort) there is no z at all."""
    from speakerid_gui.core.library.cohort import MIN_SPEAKERS, part_of, z_scores

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 64))
    rows = [c + 0.8 * rng.normal(size=(20, 64)) for c in centres[:5]]  # five enrolled speakers
    part = part_of("campp", rows, mean=np.zeros(64))
    assert part is not None and part.has.all() and (part.sd > 0).all()
    own = centres[:5] + 0.8 * rng.normal(size=(5, 64))
    stranger = centres[5] + 0.8 * rng.normal(size=(40, 64))
    Z_own = z_scores([part], {"campp": own})
    Z_stranger = z_scores([part], {"campp": stranger})
    assert (Z_own.argmax(1) == np.arange(5)).all() and Z_own.max(1).min() > 6.0
    assert Z_stranger.max() < 6.0
    assert z_scores([part], {"ge2e": own}) is None  # no part both sides have
    assert part_of("campp", rows[:MIN_SPEAKERS - 1], mean=np.zeros(64)) is None


def test_symmetric_score_discounts_a_segment_that_scores_high_against_everyone():
    """s_norm: (z + t)/sqrt(2), t measuring a segment's z against one speaker in the spread of its
    z against the other speakers; speakers without scores stay -inf; none below MIN_SYMMETRIC."""
    from speakerid_gui.core.library.cohort import MIN_SYMMETRIC, s_norm

    rng = np.random.default_rng(1)
    Z = rng.normal(size=(4, 12))
    Z[0, 2] = 7.0   # stands out from its own other scores: kept high
    Z[1] = 6.5 + 0.3 * rng.normal(size=12)  # high against everyone: no one's in particular
    Z[1, 5] = 7.0
    Z[:, 7] = -np.inf  # a speaker with no rows of any part
    S = s_norm(Z)
    assert np.isneginf(S[:, 7]).all() and np.isfinite(np.delete(S, 7, axis=1)).all()
    others = np.delete(Z[0], [2, 7])
    assert S[0, 2] == pytest.approx((7.0 + (7.0 - others.mean()) / others.std()) / np.sqrt(2))
    assert S[0, 2] > 7.0 > S[1, 5]
    assert s_norm(Z[:, : MIN_SYMMETRIC - 1]) is None
