"""Host patterns (``--limit``): Ansible's language, with node ranges for ``[...]``.

``web:&prod:!web0*`` is the hosts of group ``web`` that are also in ``prod``,
minus those whose name starts with ``web0``. A pattern is split and evaluated as
Ansible does (``a:&b,c`` is the two terms ``a:&b`` and ``c``; ``::1`` and
``host:2222`` are one term; a plain term naming a host selects that host even
when a group has the same name; plain terms first, then ``&``, then ``!``).
Unlike Ansible, ``web[01-05]`` is a node range
(:func:`hostops.ranges.expand`), not a group subscript, and a term
that matches nothing is an error rather than a warning: a typo in ``!db01`` must
not quietly run on db01. :func:`ansible_difference` says when a pattern would
select other hosts in Ansible.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import os
import re
from collections.abc import Callable, Mapping, Sequence

from hostops.ranges import RangeError, expand, split_top_level

_ALL = ("all", "*")
# Terms that are not a plain name: suggesting a close name for them would mislead.
_NOT_A_NAME = re.compile(r"^[~@]|[][*?]")

# One host address, as Ansible's parse_address(allow_ranges=True) accepts it: such a
# pattern is one term even with ':' in it (an IPv6 address, host:port, web[1:3]).
_RANGE = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_LABEL = rf"(?:[\w]|{_RANGE})(?:[\w_-]|{_RANGE})*(?<![_-])"
_HOSTNAME = rf"{_LABEL}(?:\.{_LABEL})*\Z"
_HEX = r"(?:[0-9a-f]{1,4}|\[[0-9a-f]+:[0-9a-f]+(?::[0-9]+)?\])"
_DEC = r"(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]|\[[0-9]+:[0-9]+(?::[0-9]+)?\])"
_IPV4 = rf"(?:{_DEC}\.){{3}}{_DEC}\Z"
_IPV6 = (
    rf"(?:(?:{_HEX}:){{7}}{_HEX}|(?:{_HEX}:){{1,6}}:|(?:{_HEX}:)(?::{_HEX}){{1,6}}"
    rf"|(?:{_HEX}:){{2}}(?::{_HEX}){{1,5}}|(?:{_HEX}:){{3}}(?::{_HEX}){{1,4}}"
    rf"|(?:{_HEX}:){{4}}(?::{_HEX}){{1,3}}|(?:{_HEX}:){{5}}(?::{_HEX}){{1,2}}"
    rf"|(?:{_HEX}:){{6}}(?::{_HEX})|:(?::{_HEX}){{1,6}}|{_HEX}?::"
    rf"|(?:0:){{6}}(?:{_HEX}\.){{3}}{_HEX}|::(?:ffff:)?(?:{_HEX}\.){{3}}{_HEX}"
    rf"|(?:0:){{5}}ffff:(?:{_HEX}\.){{3}}{_HEX})\Z"
)
_BRACKETED_PORT = re.compile(r"\[(.+)\]:([0-9]+)\Z")
_HOST_PORT = re.compile(r"((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)\Z")
# Ansible's group subscript: 'web[0]', 'web[-1]', 'web[1:3]', 'web[2:]' (and '1-3').
_SUBSCRIPT = re.compile(r"(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]\Z")


@functools.cache
def _address_forms() -> tuple[re.Pattern[str], ...]:
    """The three address forms, compiled at first use: only a pattern with ':' in it
    needs them, and compiling them (the IPv6 one above all) took ~13 ms of every start."""
    return (re.compile(_IPV4), re.compile(_IPV6, re.I), re.compile(_HOSTNAME, re.I))


class PatternError(ValueError):
    """A host pattern that is malformed, or that selects nothing. The message quotes it."""


def select(
    pattern: str,
    hosts: Sequence[str],
    groups: Mapping[str, Sequence[str]],
    *,
    base_dir: str = ".",
    inventory_order: bool = True,
) -> list[str]:
    """Return the hosts ``pattern`` selects, without duplicates.

    ``hosts`` are every host (in run order), ``groups`` each group's hosts
    (child groups included, in run order; the groups in the order they were
    defined). The result is the plain terms' hosts in the order of the terms
    (all hosts if there are none), kept only if in each ``&term``, minus each
    ``!term``; with ``inventory_order`` it is then put in ``hosts`` order (a
    native inventory), else it keeps Ansible's order. A term is ``all`` or
    ``*``, a host or group name, a glob (``web*``, ``db?``, against group names,
    then host names), a node range (``web[01-05]``, each name a host, group or
    glob), ``~REGEX`` (``re.match`` against group, then host names) or
    ``@FILE`` (one host or group name per line, each of which must exist; ``#``
    comments; relative to ``base_dir``).

    Raises :class:`PatternError` for an empty pattern, a bad range or regex, a
    missing file or an unknown name in it, any term that matches no host or
    group, and a pattern that selects no host.
    """
    universe = _Universe(hosts, groups)

    def match(body: str) -> list[str]:
        return _match_term(body, universe, pattern, base_dir)

    result = _evaluate(pattern, universe, match, strict=True)
    if inventory_order:
        chosen = set(result)
        result = [h for h in dict.fromkeys(hosts) if h in chosen]
    if not result:
        raise PatternError(f"pattern {pattern!r} selects no host")
    return result


def ansible_difference(
    pattern: str, hosts: Sequence[str], groups: Mapping[str, Sequence[str]], selected: list[str]
) -> str | None:
    """A one-line warning when Ansible would select other hosts than ``selected`` for
    ``pattern`` because of a ``[...]`` (Ansible: a subscript or a glob character class;
    hostops: a node range); None when it would select the same."""
    if "[" not in pattern:
        return None
    universe = _Universe(hosts, groups)
    try:
        theirs = _evaluate(pattern, universe, lambda b: _ansible_term(b, universe), strict=False)
    except (PatternError, re.error, IndexError):
        theirs = []
    if set(theirs) == set(selected):
        return None
    return (
        f"pattern {pattern!r}: hostops reads [...] as a node range and selects"
        f" {len(selected)} host(s); Ansible reads it as a subscript or character class"
        f" and would select {len(theirs)}"
    )


def _evaluate(
    pattern: str, universe: _Universe, match: Callable[[str], list[str]], *, strict: bool
) -> list[str]:
    """Ansible's _evaluate_patterns: plain terms in order, then & terms, then ! terms."""
    terms = _terms(pattern)
    ordered = [t for t in terms if not t[0]] or [("", "all")]
    ordered += [t for t in terms if t[0] == "&"] + [t for t in terms if t[0] == "!"]
    result: list[str] = []
    for op, body in ordered:
        # As Ansible: a plain term that is a host's name is that host (not a group's too).
        matched = [body] if not op and body in universe.host_set else match(body)
        if not matched and strict:
            if body in universe.groups or body in ("all", "*"):  # never "did you mean 'all'"
                raise PatternError(f"pattern {pattern!r}: {body!r} is a group with no hosts")
            hint = universe.hint(body)
            if ":" in body and "," in pattern:
                hint = " (with a ',' in it, a pattern is split on ',' only, as in Ansible)"
            raise PatternError(f"pattern {pattern!r}: {body!r} matches no host or group{hint}")
        if op == "&":
            keep = set(matched)
            result = [h for h in result if h in keep]
        elif op == "!":
            drop = set(matched)
            result = [h for h in result if h not in drop]
        else:
            have = set(result)
            for host in matched:
                if host not in have:
                    have.add(host)
                    result.append(host)
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
        self.hosts = list(dict.fromkeys(hosts))
        self.host_set = set(self.hosts)
        self.groups = groups

    def name(self, name: str) -> list[str]:
        """Hosts of a plain name, glob, ``all`` or ``*``."""
        if name in _ALL:
            return list(self.groups.get("all", self.hosts)) or self.hosts
        if "*" in name or "?" in name:
            return self.regex(re.compile(fnmatch.translate(name)), hosts_too=True)
        return self.exact(name)

    def exact(self, name: str) -> list[str]:
        """The hosts of the group called ``name``; the host called ``name`` if no group is
        (or if the name has a '.', as Ansible looks at hosts then too)."""
        found = list(self.groups.get(name, ()))
        if (not found or "." in name) and name in self.host_set:
            found.append(name)
        return found

    def regex(self, regex: re.Pattern[str], hosts_too: bool = True) -> list[str]:
        """Hosts of every group whose name ``regex`` matches at the start (in group order),
        then every host whose name it matches."""
        found: dict[str, None] = {}
        for group, members in self.groups.items():
            if regex.match(group):
                found.update(dict.fromkeys(members))
        if hosts_too:
            found.update(dict.fromkeys(h for h in self.hosts if regex.match(h)))
        return list(found)

    def hint(self, word: str) -> str:
        """`` (did you mean 'x'?)`` for the host or group name closest to a plain name, or ``""``."""
        if _NOT_A_NAME.search(word):
            return ""
        close = difflib.get_close_matches(word, [*self.groups, *self.hosts], n=1)
        return f" (did you mean {close[0]!r}?)" if close else ""


def _terms(pattern: str) -> list[tuple[str, str]]:
    """Split into ``(op, body)`` pairs, op being ``""``, ``"&"`` or ``"!"``, as Ansible's
    split_host_pattern: on ',' if there is one; else one term if the pattern is one
    address (IPv6, host:port, ranges); else on ':' outside brackets."""
    parts = split_top_level(pattern, ",")  # not inside [...]: a folded set pastes back
    if len(parts) == 1:
        # Without a ':' both ways give the one term: no address check (and its compile).
        one = ":" in pattern and _is_address(pattern.strip())
        parts = [pattern] if one else split_top_level(pattern, ":")
    terms = []
    for part in parts:
        term = part.strip()
        if not term.strip(":"):
            continue  # as Ansible: 'web,' is 'web'
        op = term[0] if term[0] in "&!" else ""
        body = term[len(op) :].strip()
        if not body:
            raise PatternError(f"pattern {pattern!r}: {op!r} needs a host or group after it")
        terms.append((op, body))
    if not terms:
        raise PatternError(f"empty host pattern {pattern!r}")
    return terms


def _is_address(text: str) -> bool:
    """Ansible's parse_address(text, allow_ranges=True) succeeds."""
    for form in (_BRACKETED_PORT, _HOST_PORT):
        found = form.match(text)
        if found:
            text = found[1]
    return bool(text) and any(r.match(text) for r in _address_forms())


def _match_term(body: str, universe: _Universe, pattern: str, base_dir: str) -> list[str]:
    if body.startswith("~"):
        return universe.regex(_compile(body[1:], pattern))
    if body.startswith("@"):
        return _match_file(body[1:], universe, pattern, base_dir)
    if "[" in body or "]" in body:
        found: dict[str, None] = {}
        for name in _expand(body, pattern):
            found.update(dict.fromkeys(universe.name(name)))
        return list(found)
    return universe.name(body)


def _ansible_term(body: str, universe: _Universe) -> list[str]:
    """What Ansible's _match_one_pattern makes of a term: a subscript slices what the
    rest matches; otherwise '[...]' is a glob character class."""
    if body.startswith("~"):
        return universe.regex(re.compile(body[1:]))
    found = _SUBSCRIPT.match(body)
    base = found[1] if found else body
    if any(c in base for c in "*?["):
        matched = universe.regex(re.compile(fnmatch.translate(base)))
    else:
        matched = universe.name(base)
    if not found or not matched:
        return matched
    if found[2] is not None:
        return [matched[int(found[2])]]
    start, end = int(found[3]), int(found[5]) if found[5] else len(matched) - 1
    return matched[start : end + 1]


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


def _match_file(name: str, universe: _Universe, pattern: str, base_dir: str) -> list[str]:
    """Every listed name must exist: a file is a deliberate list, a typo in it is a mistake."""
    path = os.path.join(base_dir, os.path.expanduser(name))
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as err:
        raise PatternError(
            f"pattern {pattern!r}: cannot read host file {path!r}: {err.strerror}"
        ) from err
    found: dict[str, None] = {}
    for number, line in enumerate(lines, 1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        matched = [entry] if entry in universe.host_set else universe.exact(entry)
        if not matched:
            raise PatternError(
                f"pattern {pattern!r}: {path}:{number}: {entry!r} is no host or group{universe.hint(entry)}"
            )
        found.update(dict.fromkeys(matched))
    return list(found)
