"""Keyboard routing: every window shortcut works whatever has focus; the filter box keeps
the keys typing needs, and Escape leaves it.

Item views accept ShortcutOverride for printable keys (their type-ahead search), which
would swallow J, K, M, S, V, N, X, G, Y and Space; a line edit claims Ctrl+Z (its own
undo), Up/Down and more. route_keys() installs one filter on every focusable widget of a
window: views and buttons never claim a key, text boxes claim only typing and editing
keys (printable text, Backspace, Delete, Left/Right/Home/End, Ctrl+A/C/V/X), and Escape in
a text box moves focus to `leave_to` (the cluster list).
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QLineEdit, QPlainTextEdit, QTextEdit, QWidget

K = Qt.Key
EDITING = {K.Key_Backspace, K.Key_Delete, K.Key_Left, K.Key_Right, K.Key_Home, K.Key_End}
STEPPING = {K.Key_Up, K.Key_Down, K.Key_PageUp, K.Key_PageDown}  # a spin box's own keys
TEXT_COMMANDS = [QKeySequence.StandardKey.SelectAll, QKeySequence.StandardKey.Copy,
                 QKeySequence.StandardKey.Paste, QKeySequence.StandardKey.Cut]
MODIFIERS = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.MetaModifier


def is_text_box(widget) -> bool:
    if isinstance(widget, QComboBox):
        return widget.isEditable()
    return isinstance(widget, (QLineEdit, QAbstractSpinBox, QTextEdit, QPlainTextEdit))


class ShortcutPassthrough(QObject):
    """A view or button never claims a printable key: the window's shortcut fires."""

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.ShortcutOverride:
            mods = event.modifiers() & ~Qt.KeyboardModifier.ShiftModifier & ~Qt.KeyboardModifier.KeypadModifier
            text = event.text()
            if text and text.isprintable() and mods == Qt.KeyboardModifier.NoModifier:
                event.ignore()
                return True  # the view never claims the key: the window's shortcut fires
        return False


class TextBoxKeys(QObject):
    """A text box keeps typing and editing keys; every other key may be a window shortcut
    (Ctrl+Z undoes the last edit, not the box's text); Escape gives focus to `leave_to`."""

    def __init__(self, parent, leave_to: QWidget | None):
        super().__init__(parent)
        self.leave_to = leave_to

    def eventFilter(self, obj, event):
        if event.type() != QEvent.Type.ShortcutOverride:
            return False
        key, mods = event.key(), event.modifiers()
        if key == K.Key_Escape and self.leave_to is not None:
            self.leave_to.setFocus(Qt.FocusReason.ShortcutFocusReason)
            event.accept()  # consumed: leaving the box is all Escape does there
            return True
        editing = EDITING | (STEPPING if isinstance(obj, QAbstractSpinBox) else set())
        typing = not (mods & MODIFIERS) and ((event.text() and event.text().isprintable()) or key in editing)
        if typing or any(event.matches(k) for k in TEXT_COMMANDS):
            return False  # the box's own handling (it claims these)
        event.ignore()  # not claimed: a window shortcut fires, or else the box gets the key press
        return True


def route_keys(window: QWidget, leave_to: QWidget | None):
    """Install the filters on every focusable widget inside `window` (call again after adding
    widgets; a widget is only filtered once)."""
    views = getattr(window, "_key_filters", None)
    if views is None:
        views = window._key_filters = (ShortcutPassthrough(window), TextBoxKeys(window, leave_to))
    for w in window.findChildren(QWidget):
        if w.focusPolicy() == Qt.FocusPolicy.NoFocus or w.property("keys_routed") or w.window() is not window:
            continue
        w.installEventFilter(views[1] if is_text_box(w) else views[0])
        w.setProperty("keys_routed", True)
