"""Where the tests find real speech, and what happens when it is missing.

- tests/data/librispeech-mini: 4 speakers x 3 utterances shipped with the repository (see its
  README), so a clone anywhere runs the real pipeline;
- ../shared/data (beside the repository): the larger sets of this machine. Tests that need them
  skip without them, except in CI (env CI=true), where a missing set is a failure: a run that
  silently tests less must not pass there.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
MINI = TESTS / "data" / "librispeech-mini"
DATA = TESTS.parents[1] / "shared" / "data"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def need(path: Path) -> Path:
    """path, or skip the test (fail it in CI) when it does not exist."""
    if not Path(path).exists():
        message = f"test audio not found at {path}"
        if in_ci():
            pytest.fail(f"{message} (CI=true: the shared data sets must be present)", pytrace=False)
        pytest.skip(message)
    return path
