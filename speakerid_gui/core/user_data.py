"""The user's data folder: projects made by the app, the speaker library, the demo."""
from __future__ import annotations

import os
from pathlib import Path

APP_FOLDER = "speakerid-gui"


def user_data_dir() -> Path:
    """$SPEAKERID_GUI_DATA if set, else $XDG_DATA_HOME/speakerid-gui (~/.local/share/speakerid-gui)."""
    if os.environ.get("SPEAKERID_GUI_DATA"):
        return Path(os.environ["SPEAKERID_GUI_DATA"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / APP_FOLDER


def user_cache_dir() -> Path:
    """$SPEAKERID_GUI_CACHE if set, else $XDG_CACHE_HOME/speakerid-gui (~/.cache/speakerid-gui):
    files made from installed packages (the exported CAM++ graph), safe to delete."""
    if os.environ.get("SPEAKERID_GUI_CACHE"):
        return Path(os.environ["SPEAKERID_GUI_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / APP_FOLDER
