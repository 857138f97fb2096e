"""The review window at 1024x700 (a small laptop screen): everything fits and nothing overlaps."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect


def _rect_in_window(widget, window) -> QRect:
    return QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())


def test_review_page_fits_1024x700(make_window, project_dir, qtbot, tmp_path):
    w = make_window(project_dir)
    w.resize(1024, 700)
    qtbot.waitUntil(lambda: w.inspector.body.isVisible(), timeout=10_000)
    qtbot.wait(100)  # the splitter guard runs after the resize
    # the window takes the size: its minimum is not larger
    assert w.width() == 1024 and w.height() == 700, w.minimumSizeHint()
    assert w.minimumSizeHint().width() <= 1024 and w.minimumSizeHint().height() <= 700

    # cluster list: name, size, confidence and % verified all inside the viewport
    table = w.clusters.table
    header = table.horizontalHeader()
    for col in range(4):
        assert not header.isSectionHidden(col)
        assert header.sectionViewportPosition(col) + header.sectionSize(col) <= table.viewport().width() + 1, col
    # a reviewer's names ("Reader 4853", "Speaker 100") are read whole, not "Read..."
    assert header.sectionSize(0) >= table.fontMetrics().horizontalAdvance("Speaker 100") + 20

    ins = w.inspector
    spec = _rect_in_window(ins.spectrogram, w)
    for button in (ins.prev_button, ins.play_button, ins.next_button):
        r = _rect_in_window(button, w)
        assert r.top() >= spec.bottom(), "a button covers the spectrogram (and its time axis)"
        assert r.right() <= w.width()
    # the energy plot (with the time axis) is whole: inside the inspector, at least its minimum
    energy = _rect_in_window(ins.prosody.energy, w)
    assert energy.bottom() <= _rect_in_window(ins, w).bottom() + 1
    assert ins.prosody.energy.height() >= ins.prosody.energy.minimumHeight()
    assert ins.prosody.pitch.height() >= ins.prosody.pitch.minimumHeight()
    assert energy.top() >= _rect_in_window(ins.prosody.pitch, w).bottom()
    # the Review-next panel gave up height to the plots, and is still there
    assert 0 < w.review_next.height() <= 0.2 * w.height() + 1
    image = w.grab()
    assert image.save(str(tmp_path / "small.png")) and image.width() == 1024


def test_axes_never_show_an_si_multiplier(make_window, project_dir, qtbot):
    w = make_window(project_dir)
    qtbot.waitUntil(lambda: w.inspector.body.isVisible(), timeout=10_000)
    ins = w.inspector
    for plot in (ins.spectrogram, ins.prosody.pitch, ins.prosody.energy):
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            assert axis.autoSIPrefix is False
            # a range in milliseconds or kiloseconds would have brought "(x0.001)" / "(x1000)"
            axis.setRange(0, 0.004)
            axis.setRange(0, 4000)
            assert "(x" not in axis.labelString()
    assert np.isfinite(ins.spectrogram.duration)
