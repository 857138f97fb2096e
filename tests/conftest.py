"""Rules for every test folder (pytest also puts this folder on sys.path, for testdata.py).

`slow` (see pyproject.toml) marks what `make test-fast` leaves out: the real pipeline on the
shared data sets, training networks, and command-line runs in subprocesses. GUI tests built on
the shared-data project get it from their fixtures, so a new one cannot forget it.
"""
from __future__ import annotations

import pytest

SHARED_DATA_FIXTURES = {"built_project", "project_dir", "libri_subset"}


def pytest_collection_modifyitems(items):
    for item in items:
        if SHARED_DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
