"""How the name looked up reaches an ssh_config reading: what lets many hosts share one.

A reading depends on the name through ``Host`` patterns, ``Match`` criteria (the host
name, the original name, ``exec`` with its tokens, ``canonical``/``final`` and their
second pass), a ``HostName`` with ``%h`` and ``CanonicalizeHostname``. When the files
use only the first of these, two names that every ``Host`` pattern matches alike read
exactly the same lines with the same outcome (the given options aside), so their
readings differ only in the name itself: :func:`host_patterns` gives those patterns,
or None when anything else depends on the name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hostops.errors import ConfigError
from hostops.host.ssh_config.lexer import Line
from hostops.host.ssh_config.resolver import MAX_INCLUDE_DEPTH
from hostops.host.ssh_config.tokens import tilde_expand

# Keywords whose mere presence makes the reading depend on the name beyond Host patterns.
_NAME_DEPENDENT = frozenset({"match", "canonicalizehostname"})


class _NotShareable(Exception):
    """The files depend on the name beyond Host patterns (or will fail when read)."""


def host_patterns(
    lines_of: Callable[[str, bool], list[Line] | None],
    glob_of: Callable[[str], list[str]],
    files: Sequence[tuple[str, bool, bool]],
    home: str,
) -> tuple[str, ...] | None:
    """Every ``Host`` pattern (``!`` taken off) of ``files`` and what they include, once
    each in the order met; None when a ``Match``, ``CanonicalizeHostname`` or a
    ``HostName`` with a ``%`` token occurs, or a file would fail to read (the reading
    itself then reports it)."""
    found: dict[str, None] = {}
    try:
        for path, user_conf, check in files:
            _walk(lines_of, glob_of, path, user_conf, check, home, 0, found)
    except (_NotShareable, ConfigError):
        return None
    return tuple(found)


def _walk(
    lines_of: Callable[[str, bool], list[Line] | None],
    glob_of: Callable[[str], list[str]],
    path: str,
    user_conf: bool,
    check: bool,
    home: str,
    depth: int,
    found: dict[str, None],
) -> None:
    if depth > MAX_INCLUDE_DEPTH:
        raise _NotShareable
    for line in lines_of(path, check) or ():
        keyword = line.keyword
        if keyword in _NAME_DEPENDENT or (keyword == "hostname" and "%" in line.rest):
            raise _NotShareable
        if keyword == "host":
            for word in line.args():
                if not word:
                    raise _NotShareable
                found[word[1:] if word.startswith("!") else word] = None
        elif keyword == "include":
            for word in line.args():
                if not word or (word.startswith("~") and not user_conf):
                    raise _NotShareable
                anchored = word
                if not word.startswith(("/", "~")):
                    anchored = ("~/.ssh/" if user_conf else "/etc/ssh/") + word
                for included in glob_of(tilde_expand(anchored, home)):
                    _walk(lines_of, glob_of, included, user_conf, True, home, depth + 1, found)
