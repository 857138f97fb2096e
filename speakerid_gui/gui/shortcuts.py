"""The keyboard shortcut sheet (Help menu), generated from the window's actions."""
from __future__ import annotations

import html

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout

MOUSE = [
    ("Click a point", "select its cluster and play it"),
    ("Shift+click a point", "add it to / remove it from the selection"),
    ("Shift+drag", "rectangle selection (or the Rectangle mode)"),
    ("Ctrl+drag", "lasso selection (or the Lasso mode)"),
    ("Alt while releasing a drag", "add to the selection"),
    ("Wheel / right-drag", "zoom"),
    ("Double-click / Enter in a segment list", "play that segment"),
    ("Double-click / Enter on a Review-next row", "go to that suggestion: select, play, explain"),
]


def sheet_html(groups: list[tuple[str, list]], mouse=MOUSE) -> str:
    """groups: (menu title, actions); actions without shortcuts are left out."""
    parts = ["<style>td{padding:2px 10px 2px 0;} th{text-align:left;padding-top:8px;}</style><table>"]
    for title, actions in groups:
        rows = [(a.text().replace("&", "").rstrip("…"), ", ".join(
            s.toString(QKeySequence.SequenceFormat.NativeText) for s in a.shortcuts()))
            for a in actions if a.shortcuts()]
        if not rows:
            continue
        parts.append(f"<tr><th colspan=2>{html.escape(title.replace('&', ''))}</th></tr>")
        parts += [f"<tr><td><b>{html.escape(keys)}</b></td><td>{html.escape(text)}</td></tr>" for text, keys in rows]
    parts.append("<tr><th colspan=2>Mouse</th></tr>")
    parts += [f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>" for k, v in mouse]
    parts.append("</table>")
    return "".join(parts)


class ShortcutSheet(QDialog):
    def __init__(self, groups, parent=None, mouse=MOUSE):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.text = QTextBrowser()
        self.text.setHtml(sheet_html(groups, mouse))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.resize(520, 640)
