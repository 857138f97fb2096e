"""Small wording helpers shared by the CLI and the GUI (no Qt here)."""
from __future__ import annotations

import re


def plural(n: int, noun: str, plural_form: str | None = None) -> str:
    """'1 segment', '2 segments', '1,234 segments' (thousands separated)."""
    n = int(n)
    return f"{n:,} {noun if n == 1 else (plural_form or noun + 's')}"


_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple:
    """Sort key that orders embedded numbers by value: S1, S2, S10, S100 (case-insensitive).
    Text and number parts alternate, so keys of any two names compare without type errors."""
    parts = _DIGITS.split(text.casefold())
    return tuple((0, int(p)) if i % 2 else (1, p) for i, p in enumerate(parts))
