"""Option values given as text (``--keepalive 15,3``, ``--max-output 4M``, ``--batch 25%``):
parsed into library values, or a UsageError naming the option."""

from __future__ import annotations

from hostops.batches import Count
from hostops.errors import UsageError

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def keepalive(value: str) -> tuple[float, int]:
    """``--keepalive INTERVAL,COUNT`` (or ``0``/``off``) as (interval, count)."""
    if value.strip().lower() in ("0", "off"):
        return 0.0, 0
    try:
        interval_text, count_text = value.split(",")
        interval, count = float(interval_text), int(count_text)
    except ValueError:
        raise UsageError(
            f"--keepalive: expected INTERVAL,COUNT like 15,3 (or 0), not {value!r}"
        ) from None
    if interval <= 0 or count < 1:
        raise UsageError(f"--keepalive: INTERVAL must be > 0 and COUNT >= 1, not {value!r}")
    return interval, count


def size(value: str) -> int:
    """``--max-output``: bytes, or with a K, M or G suffix (powers of 1024)."""
    text = value.strip().upper().removesuffix("B").removesuffix("I")
    unit = text[-1:] if text[-1:] in _UNITS else ""
    try:
        number = float(text[: len(text) - len(unit)])
    except ValueError:
        raise UsageError(
            f"--max-output: expected a size like 4M, 512K or 1048576, not {value!r}"
        ) from None
    if number < 0:
        raise UsageError(f"--max-output: must be 0 or more, not {value!r}")
    return int(number * _UNITS[unit])


def size_text(n: int) -> str:
    """A number of bytes as :func:`size` reads it, in the largest whole unit: ``4M``."""
    for unit in ("G", "M", "K"):
        if n and n % _UNITS[unit] == 0:
            return f"{n // _UNITS[unit]}{unit}"
    return str(n)


def count(value: str | None, option: str, minimum: int = 1) -> Count | None:
    """``--batch``/``--max-fail``: a number of hosts or a percentage; None when not given."""
    if value is None:
        return None
    parsed = Count.parse(value, minimum)
    if parsed is None:
        raise UsageError(
            f"{option}: expected a number of hosts (at least {minimum}) or a percentage like 25%, not {value!r}"
        )
    return parsed


def mode(value: str | None) -> int | None:
    """``--mode 0644``: an octal file mode; None when not given."""
    if value is None:
        return None
    try:
        bits = int(value, 8)
    except ValueError:
        raise UsageError(f"--mode: expected an octal mode like 0644, not {value!r}") from None
    if not 0 <= bits <= 0o7777:
        raise UsageError(f"--mode: expected an octal mode like 0644, not {value!r}")
    return bits


def extra_vars(pairs: list[str]) -> dict[str, str]:
    """``-e KEY=VALUE``, repeated: the variables."""
    given = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"--extra-var: expected KEY=VALUE, not {pair!r}")
        given[key] = value
    return given
