"""One writer per project: an advisory lock that a window or a writing command holds.

Two windows on one project would each undo the other's edits (the undo log is shared), so the
one that comes second opens it read-only. The lock is `fcntl.flock` on `FOLDER/writer.lock`:
the kernel drops it when the holder exits or crashes, so a lock is never left stale; the file
only says who holds it (pid, host, since when) for the message. Worker threads of the holding
process open their own database connections without the lock: it is per writer, not per
connection. Where flock does not exist (Windows) there is no lock, and the app says nothing.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

LOCK_NAME = "writer.lock"


class ProjectLocked(Exception):
    """The project is being changed by another window or command."""

    def __init__(self, folder: Path, holder: dict, reason: str = ""):
        self.folder, self.holder = Path(folder), holder
        if reason:  # no lock can be taken at all (a read-only disk, no permission)
            super().__init__(f"{self.folder} cannot be changed here ({reason})")
            return
        since = holder.get("since")
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(since)) if since else "an unknown time"
        who = holder.get("what") or "another speakerid process"
        super().__init__(f"{self.folder} is open in {who} (pid {holder.get('pid', '?')} on "
                         f"{holder.get('host', '?')}, since {when}): only one window or command may change it")


class ProjectLock:
    """Hold with acquire() (raises ProjectLocked) or `with ProjectLock(folder, what):`."""

    def __init__(self, folder: str | os.PathLike, what: str = "speakerid"):
        self.folder, self.what = Path(folder), what
        self.path = self.folder / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "ProjectLock":
        if self._fd is not None or fcntl is None:
            return self
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ProjectLocked(self.folder, {}, exc.strerror or str(exc)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ProjectLocked(self.folder, self.holder()) from None
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "what": self.what}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def release(self):
        fd, self._fd = self._fd, None
        if fd is not None:
            os.ftruncate(fd, 0)  # nobody holds it now; the file stays (removing it would race a new holder)
            os.close(fd)         # closing the descriptor drops the flock

    def holder(self) -> dict:
        """Who wrote the lock file last (empty when unknown)."""
        try:
            return json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}

    def __enter__(self) -> "ProjectLock":
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
