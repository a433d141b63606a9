"""OpenSSH's host and user patterns (match.c): ``*`` and ``?`` wildcards, comma lists, ``!``."""

from __future__ import annotations

import functools
import re


@functools.lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


def match_pattern(text: str, pattern: str) -> bool:
    """One pattern, case-sensitive, over the whole of ``text``."""
    return _compiled(pattern).fullmatch(text) is not None


def match_pattern_list(text: str, patterns: str, lower: bool = False) -> int:
    """A comma list: -1 when a ``!`` pattern matches, 1 when a plain one does, else 0.

    ``lower``: the patterns are lowercased first (host names)."""
    positive = 0
    for written in patterns.split(","):
        negated = written.startswith("!")
        pattern = written[1:] if negated else written
        if match_pattern(text, pattern.lower() if lower else pattern):
            if negated:
                return -1
            positive = 1
    return positive


def match_hostname(host: str, patterns: str) -> int:
    """``match_pattern_list`` for a host name, compared in lowercase."""
    return match_pattern_list(host.lower(), patterns, lower=True)
