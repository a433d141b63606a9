"""Host patterns (``--limit``): Ansible's language, with node ranges for ``[...]``.

``web:&prod:!web0*`` is the hosts of group ``web`` that are also in ``prod``,
minus those whose name starts with ``web0``. Unlike Ansible, ``web[01-05]`` is a
node range (:func:`hostops.ranges.expand`), not a group subscript, and
a term that matches nothing is an error rather than a warning: a typo in
``!db01`` must not quietly run on db01.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
from collections.abc import Mapping, Sequence

from hostops.ranges import RangeError, expand, split_top_level

_ALL = ("all", "*")
# Terms that are not a plain name: suggesting a close name for them would mislead.
_NOT_A_NAME = re.compile(r"^[~@]|[][*?]")


class PatternError(ValueError):
    """A host pattern that is malformed, or that selects nothing. The message quotes it."""


def select(
    pattern: str,
    hosts: Sequence[str],
    groups: Mapping[str, Sequence[str]],
    *,
    base_dir: str = ".",
) -> list[str]:
    """Return the hosts ``pattern`` selects, in inventory (``hosts``) order, without duplicates.

    ``groups`` maps each group name to all its hosts (child groups included).
    Terms are separated by ``,`` or ``:`` outside brackets; the result is the
    union of the plain terms (all hosts if there are none), intersected with
    each ``&term``, minus each ``!term``. A term is ``all`` or ``*``, a host or
    group name, a glob (``web*``, ``db?``, against host and group names), a
    node range (``web[01-05]``, each name a host, group or glob), ``~REGEX``
    (``re.match`` against host and group names) or ``@FILE`` (one host or
    group name per line, each of which must exist; ``#`` comments; relative
    to ``base_dir``). A regex cannot contain ``,`` or ``:`` outside brackets.

    Raises :class:`PatternError` for an empty pattern, a bad range or regex, a
    missing file or an unknown name in it, any term that matches no host or
    group, and a pattern that selects no host.
    """
    terms = _terms(pattern)
    universe = _Universe(hosts, groups)
    union: set[str] = set()
    intersections: list[set[str]] = []
    exclusions: list[set[str]] = []
    for op, body in terms:
        matched = _match_term(body, universe, pattern, base_dir)
        if not matched:
            why = (
                "is a group with no hosts"
                if body in universe.groups or body in ("all", "*")
                else f"matches no host or group{universe.hint(body)}"
            )
            raise PatternError(f"pattern {pattern!r}: {body!r} {why}")
        if op == "&":
            intersections.append(matched)
        elif op == "!":
            exclusions.append(matched)
        else:
            union |= matched
    if all(op for op, _ in terms):
        union = set(universe.hosts)  # only & and ! terms: as Ansible, they narrow 'all'
    selected = union.intersection(*intersections).difference(*exclusions)
    result = [h for h in dict.fromkeys(hosts) if h in selected]
    if not result:
        raise PatternError(f"pattern {pattern!r} selects no host")
    return result


def check_syntax(pattern: str) -> None:
    """Raise :class:`PatternError` if ``pattern`` is malformed (empty, a bad range or
    regex), without matching it: for patterns read before the inventory is (playbooks)."""
    for _, body in _terms(pattern):
        if body.startswith("~"):
            _compile(body[1:], pattern)
        elif not body.startswith("@") and ("[" in body or "]" in body):
            _expand(body, pattern)


def hosts_from_option(value: str) -> list[str]:
    """Expand ``-H 'web[01-05],db1'`` into host names, in order, without duplicates.

    Empty parts are ignored. Raises :class:`PatternError` for a malformed range.
    """
    names: dict[str, None] = {}
    for part in split_top_level(value):
        if not part.strip():
            continue
        try:
            names.update(dict.fromkeys(expand(part.strip())))
        except RangeError as err:
            raise PatternError(str(err)) from err
    return list(names)


class _Universe:
    """The names a pattern can refer to, indexed once so each term costs O(hosts)."""

    def __init__(self, hosts: Sequence[str], groups: Mapping[str, Sequence[str]]):
        self.hosts = hosts
        self.host_set = set(hosts)
        self.groups = groups

    def name(self, name: str) -> set[str]:
        """Hosts of a plain name, glob, ``all`` or ``*``."""
        if name in _ALL:
            return set(self.hosts)
        if "*" in name or "?" in name:
            return self.regex(re.compile(fnmatch.translate(name)))
        return self.exact(name)

    def exact(self, name: str) -> set[str]:
        """The host called ``name`` and the hosts of the group called ``name``."""
        found = set(self.groups.get(name, ()))
        if name in self.host_set:
            found.add(name)
        return found

    def regex(self, regex: re.Pattern[str]) -> set[str]:
        """Hosts whose name, or one of whose groups' name, ``regex`` matches at the start."""
        found = {h for h in self.hosts if regex.match(h)}
        for group, members in self.groups.items():
            if regex.match(group):
                found.update(members)
        return found

    def hint(self, word: str) -> str:
        """`` (did you mean 'x'?)`` for the host or group name closest to a plain name, or ``""``."""
        if _NOT_A_NAME.search(word):
            return ""
        close = difflib.get_close_matches(word, [*self.groups, *self.hosts], n=1)
        return f" (did you mean {close[0]!r}?)" if close else ""


def _terms(pattern: str) -> list[tuple[str, str]]:
    """Split into ``(op, body)`` pairs, op being ``""``, ``"&"`` or ``"!"``."""
    terms = []
    for part in split_top_level(pattern, ",:"):
        term = part.strip()
        if not term:
            continue  # as Ansible: 'web,' is 'web'
        op = term[0] if term[0] in "&!" else ""
        body = term[len(op) :].strip()
        if not body:
            raise PatternError(f"pattern {pattern!r}: {op!r} needs a host or group after it")
        terms.append((op, body))
    if not terms:
        raise PatternError(f"empty host pattern {pattern!r}")
    return terms


def _match_term(body: str, universe: _Universe, pattern: str, base_dir: str) -> set[str]:
    if body.startswith("~"):
        return universe.regex(_compile(body[1:], pattern))
    if body.startswith("@"):
        return _match_file(body[1:], universe, pattern, base_dir)
    if "[" in body or "]" in body:
        return set().union(*(universe.name(n) for n in _expand(body, pattern)))
    return universe.name(body)


def _expand(body: str, pattern: str) -> list[str]:
    try:
        return expand(body)
    except RangeError as err:
        raise PatternError(f"pattern {pattern!r}: {err}") from err


def _compile(regex: str, pattern: str) -> re.Pattern[str]:
    if not regex:
        raise PatternError(f"pattern {pattern!r}: '~' needs a regular expression after it")
    try:
        return re.compile(regex)
    except re.error as err:
        raise PatternError(f"pattern {pattern!r}: bad regular expression {regex!r}: {err}") from err


def _match_file(name: str, universe: _Universe, pattern: str, base_dir: str) -> set[str]:
    """Every listed name must exist: a file is a deliberate list, a typo in it is a mistake."""
    path = os.path.join(base_dir, os.path.expanduser(name))
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as err:
        raise PatternError(
            f"pattern {pattern!r}: cannot read host file {path!r}: {err.strerror}"
        ) from err
    found: set[str] = set()
    for number, line in enumerate(lines, 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        matched = universe.exact(entry)
        if not matched:
            raise PatternError(
                f"pattern {pattern!r}: {path}:{number}: {entry!r} is no host or group{universe.hint(entry)}"
            )
        found |= matched
    return found
