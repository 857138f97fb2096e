"""The speaker library and the new exports in the real window (offscreen)."""
import csv

import numpy as np
import soundfile as sf

from speakerid_gui.gui.library_dialog import LibraryDialog


def name_clusters(w, prefix="reader"):
    for k, cid in enumerate(sorted(w.state.session.project.cluster_sizes())):
        w.state.session.log.rename(cid, f"{prefix} {k}")


def test_add_match_accept_reject_in_the_app(make_window, project_dir):
    from speakerid_gui.core.library.enrolled import Library, default_library_dir

    w = make_window(project_dir)
    dialog = w.background.ask_library()
    assert isinstance(dialog, LibraryDialog) and "No speaker library yet" in dialog.info.text()
    assert not dialog.match_button.isEnabled()
    name_clusters(w)
    dialog.add_to_library()
    lib = Library.open(default_library_dir())  # the conftest's private data folder
    assert len(lib.speakers()) == 3 and "3 speakers" in dialog.info.text()
    # anonymous again, then named back from the library with the score shown
    for cid in w.state.session.project.cluster_sizes():
        w.state.session.log.rename(cid, "")
    dialog.match()
    assert dialog.table.rowCount() == 3
    scores = [float(dialog.table.item(r, 3).text()) for r in range(3)]
    assert all(s >= lib.threshold for s in scores)
    names = {w.state.session.project.cluster_name(c) for c in w.state.session.project.cluster_sizes()}
    assert names == {"reader 0", "reader 1", "reader 2"}
    model = w.clusters.model  # the window's cluster list shows the names too
    assert sorted(model.display[model.row_of(c)][0] for c in w.state.session.project.cluster_sizes()) == sorted(names)
    dialog.table.selectRow(0)
    cid = dialog.selected_cluster()
    dialog.decide("rejected")
    assert w.state.session.project.cluster_name(cid) == f"S{cid}"
    assert [dialog.table.item(r, 6).text() for r in range(3)].count("rejected") == 1
    w.edits.undo()  # the reviewer's verdict is an ordinary, undoable edit
    assert w.state.session.project.cluster_name(cid).startswith("reader")
    dialog.select_cluster(cid)
    dialog.decide("accepted")
    assert w.state.session.project.cluster_name(cid).startswith("reader")


def test_analysis_names_clusters_from_the_default_library(make_window, project_dir, libri_subset, tmp_path,
                                                          wait_jobs):
    """A new project analysed in the app is named from the library when one exists."""
    from speakerid_gui.core.pipeline import Settings

    w = make_window(project_dir)
    name_clusters(w, "known")
    w.background.ask_library().add_to_library()
    audio = libri_subset(tmp_path / "again", speakers=3, files=2)
    w.pages.close_project()
    from speakerid_gui.core.project.store import Project

    Project.create(tmp_path / "new-project", audio).close()
    assert w.pages.open_project(tmp_path / "new-project")
    w.background.start_pipeline(Settings(layout="pca", prosody=False))
    wait_jobs(w, timeout=300_000)
    names = [w.state.session.project.cluster_name(c) for c in w.state.session.project.cluster_sizes()]
    assert names and all(n.startswith("known ") for n in names), names
    assert "named from the speaker library" in w.statusBar().currentMessage()


def test_export_dialog_clips_and_textgrid(make_window, project_dir, tmp_path, wait_jobs):
    w = make_window(project_dir)
    dialog = w.background.ask_export()
    dialog.set_format("clips")
    assert dialog.clips_box.isVisibleTo(dialog) and dialog.path.text().endswith("-clips")
    dialog.path.setText(str(tmp_path / "clips"))
    dialog.clip_16k.setChecked(True)
    dialog.clip_max.setValue(2.0)
    dialog.accept()
    wait_jobs(w)
    with open(tmp_path / "clips" / "metadata.csv", newline="") as f:
        meta = list(csv.DictReader(f))
    assert meta and len(w.background.last_export) == len(meta)
    for m in meta[:5]:
        data, sr = sf.read(tmp_path / "clips" / m["file"])
        assert sr == 16000 and data.ndim == 1 and len(data) <= 2.0 * 16000 + 2
    dialog = w.background.ask_export()
    dialog.set_format("textgrid")
    assert not dialog.clips_box.isVisibleTo(dialog)
    dialog.path.setText(str(tmp_path / "tg"))
    dialog.accept()
    wait_jobs(w)
    files = list((tmp_path / "tg").rglob("*.TextGrid"))
    assert len(files) == len(w.state.session.project.recordings()) and np.all([f.stat().st_size > 0 for f in files])
