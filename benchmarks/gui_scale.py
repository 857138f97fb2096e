"""Review app at scale: 100,000 segments in 300 clusters, in a real Project built through
the store APIs (synthetic segments, layout and embeddings), opened in the real MainWindow.

Prints: time to interactive after open, repaint after zoom, recolour after merge and
move, lasso and hover hit-tests, memory (RSS), and click-to-sound latency (read_span +
the sounddevice call) on a real file.
    QT_QPA_PLATFORM=offscreen python benchmarks/gui_scale.py [--segments 100000 --clusters 300 --repeat 5]

Edits (merge, move, their undo) are repeated --repeat times from the same state and
reported as min / median / max wall time, plus the median CPU time of the GUI thread
(where the edit, its durable record in SQLite and the redraw run): on a shared machine that
says what the work costs, the wall time what a reviewer waits. The copy into the assignments
table runs on a thread of its own after the redraw; it is waited for, untimed, before the next
edit and printed as "on disk after".
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def build_project(folder: Path, n: int, k: int, dim: int = 192, seed: int = 0):
    """A Project with n segments (3 s windows, 1.5 s hop, 100 per recording) in k clusters."""
    from speakerid_gui.core.project.edits import EditLog
    from speakerid_gui.core.palette import color_for
    from speakerid_gui.core.pipeline import Settings
    from speakerid_gui.core.project.store import Project, settings_hash

    rng = np.random.default_rng(seed)
    audio = folder / "audio"
    audio.mkdir(parents=True)
    project = Project.create(folder / "project", audio)
    settings = Settings(backend="campp")  # what "auto" chooses for 3 s windows: the array is stored under it
    seg_key = settings.segments.key()
    per_rec = 100
    with project.transaction() as db:
        for r in range(int(np.ceil(n / per_rec))):
            rid, _ = project.upsert_recording(f"rec{r:05d}.flac", 1, 0.0)
            count = min(per_rec, n - r * per_rec)
            starts = np.arange(count) * 1.5
            db.executemany("INSERT INTO segments(recording_id, start, end) VALUES(?, ?, ?)",
                           [(rid, float(a), float(a + 3.0)) for a in starts])
            project.set_recording_status(rid, "ok", None, seg_key=seg_key, duration=float(starts[-1] + 3), speech=0.0)
        db.execute("INSERT INTO assignments(segment_id) SELECT id FROM segments")
    project.reload()
    # clusters of uneven size (a few big speakers, a long tail), blobs in 2-D and in embedding space
    weights = rng.pareto(1.2, k) + 0.05
    labels = rng.choice(k, size=n, p=weights / weights.sum()).astype(np.int32)
    centres2d = rng.uniform(-50, 50, size=(k, 2))
    layout = (centres2d[labels] + rng.normal(scale=1.5, size=(n, 2))).astype(np.float32)
    centres = rng.normal(size=(k, dim))
    emb = (centres[labels] + 0.6 * rng.normal(size=(n, dim))).astype(np.float32)
    conf = rng.uniform(0.4, 1.0, n).astype(np.float32)
    EditLog(project).relabel("cluster", f"synthetic {k} clusters", np.arange(n), labels, conf,
                             {c: {"name": "", "color": color_for(c), "notes": ""} for c in range(k)})
    project.set_meta("settings", asdict(settings))
    emb_key = settings_hash(settings.backend, seg_key, project.segment_ids[:1].tolist(),
                            project.segment_ids[-1:].tolist(), project.n_segments)
    project.save_array(f"embeddings-{settings.backend}", emb_key, emb)
    project.save_array("layout", "synthetic", layout)
    project.close()
    return folder / "project"


def timed(fn, repeat=1):
    times = []
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, times


def edit_and_undo(edit, undo, repeat: int, before, written):
    """Run before() untimed, then time edit() and undo(), `repeat` times from the same state.
    Returns ((walls, cpus) of the edits, (walls, cpus) of the undos); cpu: the GUI thread's.
    The assignments table is written behind each edit, after the window's redraw; `written()`
    waits for that (as a reviewer's next key, later than 0.1 s, would) and its wait goes into
    `behind` (seconds from the edit's return to the table's copy on disk)."""
    done, undone, behind = ([], []), ([], []), []
    for _ in range(repeat):
        before()
        written()
        for fn, out in ((edit, done), (undo, undone)):
            c, t = time.thread_time(), time.perf_counter()
            fn()
            out[0].append(time.perf_counter() - t)
            out[1].append(time.thread_time() - c)
            t = time.perf_counter()
            written()
            behind.append(time.perf_counter() - t)
    edit_and_undo.behind = behind
    return done, undone


def settle(app, window, timeout: float = 300.0):
    """Let background work the window started on opening (e.g. ranking review suggestions in a
    worker thread) finish, so it does not share the cores with what is timed next. The timed
    edits below never spin the event loop, so they start no new background work."""
    end = time.time() + timeout
    while time.time() < end:
        app.processEvents()
        if not window.jobs and getattr(window, "suggestions_job", None) is None:
            return
        time.sleep(0.02)


def rerank_gaps(app, window, repeat: int = 3) -> str:
    """The queue is ranked in a worker thread after every edit; what the reviewer feels is the
    longest stall of the event loop meanwhile (a 5 ms timer's largest gap), delivery included."""
    from PySide6.QtCore import QTimer

    settle(app, window)
    walls, worst = [], []
    for _ in range(repeat):
        gaps, last = [], [time.perf_counter()]

        def tick():
            now = time.perf_counter()
            gaps.append(now - last[0])
            last[0] = now

        timer = QTimer()
        timer.setInterval(5)
        timer.timeout.connect(tick)
        timer.start()
        t0 = time.perf_counter()
        window.review_queue.refresh_suggestions()
        while window.review_queue.suggestions_job is not None:
            app.processEvents()
            time.sleep(0.001)
        walls.append(time.perf_counter() - t0)
        for _ in range(10):
            app.processEvents()
            time.sleep(0.005)
        timer.stop()
        worst.append(max(gaps))
    return (f"{np.median(walls):.2f} s in the background; longest event-loop stall median "
            f"{1000 * np.median(worst):.0f} ms, max {1000 * max(worst):.0f} ms  [n={repeat}]")


def spread(walls, cpus=None) -> str:
    text = (f"min {min(walls) * 1000:6.1f}  median {statistics.median(walls) * 1000:6.1f}  "
            f"max {max(walls) * 1000:6.1f} ms")
    if cpus:
        text += f"  (GUI-thread cpu median {statistics.median(cpus) * 1000:.1f} ms)"
    return text + f"  [n={len(walls)}]"


def ms(times) -> str:
    if len(times) == 1:
        return f"{times[0] * 1000:8.1f} ms"
    return f"{statistics.median(times) * 1000:8.1f} ms (median of {len(times)}, max {max(times) * 1000:.1f})"


def click_to_sound():
    """read_span + player start on a real file (the call into sounddevice; no device here is fine)."""
    from speakerid_gui.core.audio.decode import read_span
    from speakerid_gui.gui.player import SoundDevicePlayer

    import soundfile as sf

    files = sorted((DATA / "librispeech-test-other").rglob("*.flac"))[:20] if DATA.exists() else []
    if not files:
        return None
    player = SoundDevicePlayer()
    errors = []
    player.failed.connect(errors.append)
    read_times, total_times = [], []
    for i, path in enumerate(files):
        start = min(1.0 + (i % 5), sf.info(str(path)).duration - 3.0)  # a 3 s segment inside the file
        t0 = time.perf_counter()
        wave = read_span(path, start, start + 3.0)
        t1 = time.perf_counter()
        player.play(wave, 16000, i)
        t2 = time.perf_counter()
        player.stop()
        read_times.append(t1 - t0)
        total_times.append(t2 - t0)
    return read_times[1:], total_times[1:], errors[:1]  # the first call also imports sounddevice


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segments", type=int, default=100_000)
    ap.add_argument("--clusters", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=5, help="runs of each edit (min/median/max)")
    args = ap.parse_args()

    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtWidgets import QApplication

    import pyqtgraph as pg
    from speakerid_gui.gui.main_window import MainWindow
    from speakerid_gui.gui.player import NullPlayer

    tmp = Path(tempfile.mkdtemp(prefix="gui-scale-"))
    os.environ["SPEAKERID_GUI_DATA"] = str(tmp / "data")
    t = time.perf_counter()
    folder = build_project(tmp, args.segments, args.clusters)
    print(f"built project: {args.segments:,} segments, {args.clusters} clusters in {time.perf_counter() - t:.1f} s "
          f"({folder})")

    app = QApplication.instance() or QApplication(sys.argv[:1])
    pg.setConfigOptions(antialias=False)
    rss0 = rss_mb()
    window = MainWindow(player=NullPlayer(), settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat))
    window.resize(1480, 920)
    window.show()
    app.processEvents()

    def open_and_paint():
        window.pages.open_project(folder)
        window.scatter.plot.viewport().repaint()  # the first frame with every point drawn
        app.processEvents()

    _, t_open = timed(open_and_paint)
    print(f"time to interactive (open, all {args.segments:,} points drawn, largest cluster in the inspector): {ms(t_open)}")
    print(f"memory: RSS {rss_mb():.0f} MB (window + project; {rss0:.0f} MB before opening)")
    settle(app, window)

    s = window.scatter
    vp = s.plot.viewport()
    _, t_paint = timed(lambda: vp.repaint(), repeat=5)
    print(f"repaint, everything in view:            {ms(t_paint)}")
    (x0, x1), (y0, y1) = s.view.viewRange()
    s.view.setRange(xRange=(x0 + (x1 - x0) / 4, x1 - (x1 - x0) / 4), yRange=(y0 + (y1 - y0) / 4, y1 - (y1 - y0) / 4),
                    padding=0)
    _, t_zoom = timed(lambda: vp.repaint(), repeat=5)
    print(f"repaint after zoom (x2):                {ms(t_zoom)}")
    s.reset_view()

    p = window.state.session.project
    sizes = p.cluster_sizes()
    big = sorted(sizes, key=sizes.get, reverse=True)
    log = window.state.session.log

    def recolour_only():
        s.set_labels(p.cluster, p.verified, p.noise, window.review.colors())

    _, t_recolour = timed(recolour_only, repeat=5)
    print(f"scatter recolour (brush codes only):    {ms(t_recolour)}")
    R = args.repeat
    listener_times = []
    original = window.edits.on_edit

    def measured(change):
        t = time.perf_counter()
        original(change)
        listener_times.append(time.perf_counter() - t)

    log.listeners[log.listeners.index(original)] = measured
    # the largest cluster is current (as after opening); merge the second largest into it, undo
    merges, undos = edit_and_undo(lambda: log.merge([big[0], big[1]]), log.undo, R,
                                  before=lambda: window.clusters.select_cluster(big[0]), written=p.wait_for_writes)
    refreshes = listener_times[0::2]  # the listener ran for each merge, then for each undo
    print(f"merge 2 largest ({sizes[big[1]]:,} segs into {sizes[big[0]]:,}), edit + refresh: {spread(*merges)}")
    print(f"  of which the window's refresh (recolour, list, inspector):        {spread(refreshes)}")
    print(f"undo that merge, edit + refresh:                                  {spread(*undos)}")
    print(f"  then the table written behind, on disk after:                    {spread(edit_and_undo.behind)}")

    # lasso over a region around the largest cluster
    members = np.flatnonzero(p.cluster == big[0])
    cx, cy = s.xy[members].mean(0)
    th = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    poly = np.c_[cx + 20 * np.cos(th) * (1 + 0.2 * np.sin(7 * th)), cy + 20 * np.sin(th)]
    hit, t_lasso = timed(lambda: s.index.in_polygon(poly), repeat=7)
    print(f"lasso hit-test ({len(poly)} vertices, {len(hit):,} hit):  {ms(t_lasso)}")
    huge = np.c_[200 * np.cos(th), 200 * np.sin(th)]
    hit_all, t_lasso_all = timed(lambda: s.index.in_polygon(huge), repeat=7)
    print(f"lasso around everything ({len(hit_all):,} hit):      {ms(t_lasso_all)}")
    _, t_region = timed(lambda: s._on_region("lasso", poly, Qt.KeyboardModifier.NoModifier))
    print(f"lasso incl. selection overlay:          {ms(t_region)}")

    def before_move():
        window.clusters.select_cluster(big[0])
        s.set_selection(hit)

    # move the lassoed segments to another cluster (it becomes current), undo
    moves, move_undos = edit_and_undo(lambda: window.edits.move_segments(s.selection, big[5]), log.undo, R,
                                      before=before_move, written=p.wait_for_writes)
    print(f"move {len(hit):,} lassoed segments, edit + refresh:              {spread(*moves)}")
    print(f"undo that move, edit + refresh:                                   {spread(*move_undos)}")
    print(f"  then the table written behind, on disk after:                    {spread(edit_and_undo.behind)}")
    _, t_pick = timed(lambda: s.pick(float(cx), float(cy)), repeat=20)
    print(f"hover/click nearest-point pick:         {ms(t_pick)}")
    _, t_next = timed(lambda: window.clusters.step(1), repeat=5)
    print(f"next cluster (list, scatter focus, inspector with audio missing): {ms(t_next)}")
    print(f"re-rank Review next (worker), then show it: {rerank_gaps(app, window)}")
    window.close()
    app.processEvents()

    result = click_to_sound()
    if result is None:
        print("click-to-sound: skipped (no ../shared/data)")
    else:
        reads, totals, errors = result
        device = f"no output device here: {errors[0]}" if errors else "played on the default device"
        print(f"click-to-sound, read_span (3 s of a FLAC): {ms(reads)}")
        print(f"click-to-sound, read_span + player start (up to the sounddevice call): {ms(totals)}  [{device}]")


if __name__ == "__main__":
    main()
