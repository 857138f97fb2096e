"""Keeping the review page usable in a small window (1024x700): the Review-next panel under the
review row gives up height before the inspector's plots do.

A vertical splitter keeps the panel's height when the window shrinks (its stretch is 0), so on a
700 px screen the spectrogram and the pitch/energy plots were squeezed while the panel kept 190 px.
An event filter on the window caps the panel at a share of the window's height instead.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer

PANEL_SHARE = 0.2   # the panel's height at most this share of the window's height


class ReviewSplitGuard(QObject):
    """Installed on the main window: after each resize, the panel of `split` (its last widget)
    is no taller than PANEL_SHARE of the window (never below its own minimum)."""

    def __init__(self, window, split):
        super().__init__(window)
        self.window, self.split = window, split
        window.installEventFilter(self)

    def eventFilter(self, obj, event):
        if obj is self.window and event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            QTimer.singleShot(0, self.fit)  # after the layouts have taken the new size
        return False

    def fit(self):
        sizes = self.split.sizes()
        if len(sizes) < 2 or not self.split.widget(1).isVisible():
            return
        panel = self.split.widget(1)
        cap = max(panel.minimumSizeHint().height(), int(self.window.height() * PANEL_SHARE))
        if sizes[1] > cap:
            self.split.setSizes([sizes[0] + sizes[1] - cap, cap])


def guard_review_split(window) -> ReviewSplitGuard | None:
    split = getattr(window, "review_split", None)
    return ReviewSplitGuard(window, split) if split is not None else None
