"""Node ranges: ``web[01-20].example.com`` to names and back.

hostops's native syntax is ClusterShell's (``node[1-100,200-210]``, several
bracket groups, zero padding kept) plus single-letter ranges (``rack[a-c]``),
which ClusterShell lacks. :func:`expand_ansible` reads Ansible's inventory
syntax (``web[01:50:2]``, ``db-[a:f]``) for inventories written for Ansible.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Callable, Iterable, Sequence
from itertools import product

# Only RangeSet here: NodeSet drags in NodeUtils and subprocess (~10 ms at
# import), and only fold() needs it.
from ClusterShell.RangeSet import RangeSet, RangeSetParseError

MAX_NAMES = 100_000
"""Largest expansion allowed: a typo like ``web[1-10000000]`` fails fast instead of eating memory."""

# A bracket group with no brackets inside; split() with this keeps the groups.
_BRACKET_GROUP = re.compile(r"(\[[^\[\]]*\])")
_NUMERIC = re.compile(r"([0-9]+)(?:-([0-9]+)(?:/([0-9]+))?)?")
_ALPHA = re.compile(r"([A-Za-z])(?:-([A-Za-z]))?")
_MIXED = re.compile(r"[A-Za-z]-[0-9]+|[0-9]+-[A-Za-z]")
_DIGITS = re.compile(r"[0-9]+")
_LETTER = re.compile(r"[A-Za-z]")
# Names NodeSet folds faithfully; others ('a!b' becomes 'a', '@x' is a group) pass through.
_FOLDABLE = re.compile(r"[A-Za-z0-9._-]+")
# A name's last number, with what comes before and after it.
_LAST_NUMBER = re.compile(r"(.*?)([0-9]+)([^0-9]*)")


# (bracket body, whole pattern) -> the names that bracket stands for, in order.
_Dimension = Callable[[str, str], Sequence[str]]


class RangeError(ValueError):
    """A malformed node range. The message quotes the whole pattern."""


def expand(pattern: str) -> list[str]:
    """Expand a native node range into names, in the order written.

    ``web[01-03]`` gives web01, web02, web03; ``node[1-2,7]``, ``rack[a-b]-[1-3]``
    (leftmost bracket varies slowest) and ClusterShell steps ``n[1-9/2]`` work too.
    A name without brackets gives ``[name]``. Duplicates are dropped.

    Raises :class:`RangeError` for an empty pattern, a comma outside brackets,
    unbalanced or empty brackets, a descending, mixed or malformed range, or more
    than :data:`MAX_NAMES` names.
    """
    return _expand(pattern, _native_dimension)


def expand_ansible(pattern: str) -> list[str]:
    """Expand an Ansible inventory range (``web[01:50:2]``, ``db-[a:f]``) into names.

    As in Ansible: a start with a leading zero sets the width, and the end must
    then have the same width; an empty start means 0; letters run through
    ``a-z`` then ``A-Z``. Unlike Ansible, a descending range is an error, not an
    empty list.

    Raises :class:`RangeError` for the same malformed patterns as :func:`expand`,
    and for anything that is not ``start:end`` or ``start:end:step``.
    """
    return _expand(pattern, _ansible_dimension)


def fold(names: Iterable[str]) -> str:
    """Fold names into a compact ClusterShell set: ``db1,web[01-03,05]``. Never raises.

    Each comma-separated part (commas inside brackets don't count) expands back
    with :func:`expand`, to exactly the input set, duplicates dropped. Names
    NodeSet would misread (``@``, ``!``, ``&``, ``^``, spaces, non-ASCII...) are
    appended unfolded, sorted; so are names no pattern can express (empty, or
    containing ``[``, ``]`` or ``,``), which therefore do not round-trip.
    An empty input gives ``""``.
    """
    foldable: list[str] = []
    verbatim: set[str] = set()
    for name in names:
        if _FOLDABLE.fullmatch(name):
            foldable.append(name)
        else:
            verbatim.add(name)
    parts = sorted(verbatim)
    if foldable:
        plain, numbers = _by_last_number(foldable)
        text = _one_range(plain, numbers)
        if text is None:
            from ClusterShell.NodeSet import RESOLVER_NOGROUP, NodeSet

            # Fewer, larger patterns for the same set: NodeSet parses each name on its
            # own (a second for 100,000 names); its result depends only on the set.
            patterns = plain + [f"{p}[{_number_runs(n)}]{s}" for (p, s), n in numbers.items()]
            text = str(NodeSet.fromlist(patterns, resolver=RESOLVER_NOGROUP))
        parts.insert(0, text)
    return ",".join(parts)


def _by_last_number(names: Iterable[str]) -> tuple[list[str], dict[tuple[str, str], set[str]]]:
    """The names without a digit, and the others by what surrounds their last number
    (``web01.lan``: ``("web", ".lan")`` -> ``{"01"}``), in linear time."""
    plain: list[str] = []
    numbers: dict[tuple[str, str], set[str]] = {}
    for name in names:
        found = _LAST_NUMBER.fullmatch(name)
        if found is None:
            plain.append(name)
        else:
            numbers.setdefault((found[1], found[3]), set()).add(found[2])
    return plain, numbers


def _one_range(plain: list[str], numbers: dict[tuple[str, str], set[str]]) -> str | None:
    """What NodeSet writes for the commonest set, without it: two names or more that
    differ only in their one number, all written with as many digits (``h[0001-5000].lan``).
    None for any other set."""
    if plain or len(numbers) != 1:
        return None
    ((prefix, suffix), written), *_ = numbers.items()
    widths = {len(n) for n in written}
    if len(written) < 2 or len(widths) != 1 or _DIGITS.search(prefix + suffix):
        return None
    return f"{prefix}[{_number_runs(written)}]{suffix}"


def _number_runs(written: Iterable[str]) -> str:
    """``a-b,c`` as ClusterShell writes a range set: numbers of the same width whose
    values follow each other as one run (``08-10``: 08, 09, 10), sorted by width, then
    value. A run stands for exactly the strings it joins: 9 and 10 are never one."""
    runs: list[str] = []
    start = end = ""
    for number in sorted(written, key=lambda n: (len(n), int(n))):
        if end and len(number) == len(end) and int(number) == int(end) + 1:
            end = number
            continue
        if end:
            runs.append(start if start == end else f"{start}-{end}")
        start = end = number
    runs.append(start if start == end else f"{start}-{end}")
    return ",".join(runs)


def split_top_level(text: str, seps: str = ",") -> list[str]:
    """Split ``text`` on any character of ``seps`` that is not inside brackets.

    ``split_top_level("web[01,03],db1")`` gives ``["web[01,03]", "db1"]``. Like
    :meth:`str.split`, empty parts are kept (``""`` gives ``[""]``). Never raises:
    unbalanced brackets are left for :func:`expand` to report.
    """
    parts = []
    depth = 0
    start = 0
    for i, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth = max(depth - 1, 0)
        elif depth == 0 and char in seps:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _expand(pattern: str, dimension: _Dimension) -> list[str]:
    """Cut the pattern into literals and bracket groups, then take their product."""
    if not pattern:
        raise RangeError("empty host pattern")
    dims: list[Sequence[str]] = []
    for i, piece in enumerate(_BRACKET_GROUP.split(pattern)):
        if i % 2:
            dims.append(dimension(piece[1:-1], pattern))
        elif "[" in piece or "]" in piece:
            raise RangeError(f"unbalanced brackets in {pattern!r}")
        elif "," in piece:
            raise RangeError(f"',' outside brackets in {pattern!r}: give one pattern at a time")
        else:
            dims.append((piece,))
    _check_size(math.prod(len(d) for d in dims), pattern)
    return list(dict.fromkeys(map("".join, product(*dims))))


def _native_dimension(body: str, pattern: str) -> list[str]:
    if not body:
        raise RangeError(f"empty brackets in {pattern!r}")
    names: list[str] = []
    for item in body.split(","):
        names.extend(_native_item(item, pattern))
        _check_size(len(names), pattern)
    return names


def _native_item(item: str, pattern: str) -> Sequence[str]:
    numeric = _NUMERIC.fullmatch(item)
    if numeric:
        start, end, step = numeric.groups()
        return _numbers(item, start, end, step, pattern)
    alpha = _ALPHA.fullmatch(item)
    if alpha:
        first, last = alpha.groups()
        return _letters(item, first, last, pattern)
    raise RangeError(f"bad range {item!r} in {pattern!r}: {_why_not_a_range(item)}")


def _numbers(item: str, start: str, end: str | None, step: str | None, pattern: str) -> list[str]:
    if end is not None:
        if int(start) > int(end):
            raise RangeError(f"descending range {item!r} in {pattern!r}: write [{end}-{start}]")
        if len(start) != len(end) and (_padded(start) or _padded(end)):
            raise RangeError(
                f"bad range {item!r} in {pattern!r}: zero-padded ends need the same width,"
                f" as in {_same_width(start, end)}"
            )
        # Before RangeSet: it is a set of every number, built eagerly (seconds for 1e6).
        _check_size((int(end) - int(start)) // max(int(step or 1), 1) + 1, pattern)
    try:
        ranges = RangeSet(item)
    except RangeSetParseError as err:
        raise RangeError(f"bad range {item!r} in {pattern!r}: {err}") from err
    return list(ranges.striter())


def _padded(number: str) -> bool:
    return len(number) > 1 and number.startswith("0")


def _same_width(start: str, end: str) -> str:
    """What the user probably meant: ``001-1000`` is ``[001-999,1000] or [0001-1000]``."""
    width = max(len(start), len(end))
    padded = f"[{start.zfill(width)}-{end.zfill(width)}]"
    if len(start) < len(end) and _padded(start):
        top = 10 ** len(start)
        rest = str(top) if int(end) == top else f"{top}-{end}"
        return f"[{start}-{'9' * len(start)},{rest}] or {padded}"
    return padded


def _letters(item: str, start: str, end: str | None, pattern: str) -> list[str]:
    if end is None:
        return [start]
    if start.islower() != end.islower():
        raise RangeError(f"range {item!r} in {pattern!r} mixes lower and upper case")
    if start > end:
        raise RangeError(f"descending range {item!r} in {pattern!r}: write [{end}-{start}]")
    return [chr(c) for c in range(ord(start), ord(end) + 1)]


def _why_not_a_range(item: str) -> str:
    if not item:
        return "empty item"
    if ":" in item:
        return "hostops ranges use '-' as in [01-05] ([01:05] is Ansible's syntax)"
    if _MIXED.fullmatch(item):
        return "a range cannot mix a letter and a number"
    return "expected N, N-M, N-M/STEP, a letter or a letter range like a-f"


def _ansible_dimension(body: str, pattern: str) -> Sequence[str]:
    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        raise RangeError(
            f"bad range [{body}] in {pattern!r}: expected [start:end] or [start:end:step]"
        )
    start, end = bounds[0] or "0", bounds[1]
    step = _ansible_step(bounds[2] if len(bounds) == 3 else "1", pattern)
    if not end:
        raise RangeError(f"bad range [{body}] in {pattern!r}: the end is missing")
    if _LETTER.fullmatch(start) and _LETTER.fullmatch(end):
        first, last = string.ascii_letters.index(start), string.ascii_letters.index(end)
        if first > last:
            raise RangeError(f"descending range [{body}] in {pattern!r}")
        return string.ascii_letters[first : last + 1 : step]
    if not (_DIGITS.fullmatch(start) and _DIGITS.fullmatch(end)):
        raise RangeError(f"bad range [{body}] in {pattern!r}: expected numbers or single letters")
    if int(start) > int(end):
        raise RangeError(f"descending range [{body}] in {pattern!r}")
    width = 0
    if _padded(start):
        if len(end) != len(start):
            raise RangeError(
                f"bad range [{body}] in {pattern!r}: a zero-padded start needs an end of the same width"
            )
        width = len(start)
    numbers = range(int(start), int(end) + 1, step)
    _check_size(len(numbers), pattern)
    return [str(n).zfill(width) for n in numbers]


def _ansible_step(text: str, pattern: str) -> int:
    if not _DIGITS.fullmatch(text) or int(text) == 0:
        raise RangeError(f"bad step {text!r} in {pattern!r}: expected a positive whole number")
    return int(text)


def _check_size(count: int, pattern: str) -> None:
    if count > MAX_NAMES:
        raise RangeError(f"{pattern!r} expands to {count} names, more than {MAX_NAMES}")
