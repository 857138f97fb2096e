"""The command line answers --help quickly, and importing the core stays light (lazy imports)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from coredata import speakerid_command

SUBCOMMANDS = ["run", "export", "evaluate", "info", "undo", "redo", "edit"]


def _help(*args):
    return subprocess.run([*speakerid_command(), *args, "--help"], capture_output=True, text=True, timeout=60)


def test_top_level_help_lists_every_subcommand():
    proc = _help()
    assert proc.returncode == 0, proc.stderr
    assert "usage: speakerid" in proc.stdout
    for name in SUBCOMMANDS:
        assert name in proc.stdout


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_subcommand_help(sub):
    proc = _help(sub)
    assert proc.returncode == 0, proc.stderr
    assert f"usage: speakerid {sub}" in proc.stdout


def test_cli_start_up_imports_no_heavy_library():
    # --help stays fast because torch, sklearn, umap and transformers load on first use.
    code = ("import sys; from speakerid_gui import cli; cli.build_parser().format_help(); "
            "print(sorted(m for m in ('torch', 'sklearn', 'umap', 'transformers', 'PySide6') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_run_help_documents_the_main_options():
    proc = _help("run")
    for option in ("--project", "--speakers", "--backend", "--method", "--one-speaker-per-file", "--layout",
                   "--window", "--hop", "--min-segment"):
        assert option in proc.stdout


def test_no_subcommand_prints_help_and_fails_as_usage():
    proc = subprocess.run(speakerid_command(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "usage: speakerid" in proc.stdout


HEAVY = ["torch", "umap", "sklearn", "numba", "transformers", "parselmouth", "silero_vad"]


@pytest.mark.parametrize("module", ["speakerid_gui.core.pipeline", "speakerid_gui.cli",
                                    "speakerid_gui.core.project.store", "speakerid_gui.core.embed"])
def test_importing_the_core_does_not_import_heavy_libraries(module):
    code = (f"import json, sys, {module}\n"
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_backend_registry_is_listed_without_torch():
    code = ("import json, sys\n"
            "from speakerid_gui.core.embed import backend_names\n"
            "names = backend_names()\n"
            "print(json.dumps([names, 'torch' in sys.modules]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    names, torch_loaded = json.loads(proc.stdout)
    assert {"campp", "ge2e", "mfcc"} <= set(names)
    assert not torch_loaded
