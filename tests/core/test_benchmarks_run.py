"""Every benchmark that holds an issue's targets still runs to its table, on the smallest sets.

The figures themselves are the benchmarks' business (printed, never asserted here); what this
checks is that a change elsewhere has not broken them: library.py, count_estimation.py and
compare_backends.py each stopped with a traceback once the short-clip default (CAM++ joined by
GE2E) arrived, and nobody saw it until they were run again.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from testdata import DATA, need

pytestmark = pytest.mark.slow  # the real pipeline on ../shared/data, in subprocesses

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def bench(script: str, *args, timeout: float = 900) -> str:
    proc = subprocess.run([sys.executable, str(BENCH / script), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=BENCH.parent)
    assert proc.returncode == 0, f"{script} failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(autouse=True)
def _data():
    need(DATA / "fsdd-subset" / "manifest.csv")
    need(DATA / "librispeech-test-other" / "manifest.csv")


def test_accuracy_then_count_estimation_on_fsdd(tmp_path):
    out = bench("accuracy.py", "--sets", "fsdd", "--work", tmp_path)
    assert "fsdd" in out and "acc est" in out
    out = bench("accuracy.py", "--sets", "fsdd", "--backend", "campp", "--work", tmp_path)
    out = bench("count_estimation.py", "--sets", "fsdd", "--work", tmp_path)
    assert "fsdd        current" in out


def test_count_estimation_says_what_to_run_first(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCH / "count_estimation.py"), "--work", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "accuracy.py --backend campp" in proc.stdout


def test_library_on_read_speech_and_short_clips(tmp_path):
    out = bench("library.py", "--sets", "test-other,fsdd", "--work", tmp_path)
    assert "| test-other | reviewed |" in out and "| fsdd | names |" in out


def test_review_curves_and_plot(tmp_path):
    plot = tmp_path / "curve.png"  # never the README's own plot
    out = bench("review.py", "--sets", "fsdd-subset", "--no-speed", "--work", tmp_path, "--plot", plot)
    assert "| fsdd-subset |" in out and plot.stat().st_size > 0


def test_compare_backends_on_test_other(tmp_path):
    out = bench("compare_backends.py", "--sets", "test-other", "--epochs", "2", "--seeds", "0", "--work", tmp_path)
    assert "| test-other | `campp (default)` |" in out and "| test-other | `ge2e` |" in out


def test_relearn_timing_on_a_synthetic_project(capsys):
    """review.py's relearn timing on gui_scale's synthetic project (which once stored its embeddings
    under "auto", a name no project resolves to, so the background job found no embeddings)."""
    sys.path.insert(0, str(BENCH))
    import review

    review.relearn_speed(n=2000, k=40, repeat=1)
    assert "relearn after an answer at 2,000 segments" in capsys.readouterr().out
