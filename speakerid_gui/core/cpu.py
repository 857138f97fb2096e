"""What this CPU offers the models: how many cores this process may use."""
from __future__ import annotations

import os


def default_workers() -> int:
    """The cores this process may run on (its affinity mask on Linux)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
