"""Let single-key shortcuts reach the window while a list or table has focus.

Item views accept ShortcutOverride for printable keys (their type-ahead search), which
would swallow J, K, M, S, V, N, X, G, Y and Space. The review loop needs those keys more;
the cluster list has a filter box for searching. Installed on the cluster list, the
inspector's segment lists, the start page's recent list and the Review-next table.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt


class ShortcutPassthrough(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.ShortcutOverride:
            mods = event.modifiers() & ~Qt.KeyboardModifier.ShiftModifier & ~Qt.KeyboardModifier.KeypadModifier
            text = event.text()
            if text and text.isprintable() and mods == Qt.KeyboardModifier.NoModifier:
                event.ignore()
                return True  # the view never claims the key: the window's shortcut fires
        return False


def pass_shortcuts(*widgets):
    """Install one shared filter on each widget (kept alive by the first widget)."""
    if not widgets:
        return
    flt = ShortcutPassthrough(widgets[0])
    for w in widgets:
        w.installEventFilter(flt)
