"""Hints for policy errors: "did you mean ...?". Imports difflib only when an error is built."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["closest", "did_you_mean"]


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``word``, or None when none is close."""
    import difflib

    matches = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, choices: Iterable[str], *, fallback: str | None = None) -> str | None:
    """``did you mean 'x'?`` for the closest choice; else ``fallback``."""
    match = closest(word, choices)
    if match is None:
        return fallback
    return f"did you mean {match!r}?"
