"""The ``--persist`` setting: how long connections stay open after a command.

Read twice with the same rules: by the thin client before anything heavy is imported
(is this a warm run?), and by the command line (the value the run keeps connections
for); the configuration file may set it (hostops.userconfig). Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

ENV = "HOSTOPS_PERSIST"
COMMANDS = frozenset({"run", "put", "get", "play"})  # the commands that may run warm
_OFF = frozenset({"0", "no", "off", "false"})
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)\Z")


def parse(text: str) -> float:
    """Seconds that ``text`` (``10m``, ``90s``, ``90``, ``2h``, ``1d``) means; 0 for
    ``0``/``no``/``off``. Raises ValueError with a one-line reason."""
    value = text.strip().lower()
    if value in _OFF:
        return 0.0
    found = _DURATION.match(value)
    if found is None:
        raise ValueError(
            f"{text!r} is not a duration: use e.g. 10m, 90s, 2h, 1d, or 0/no to turn it off"
        )
    return float(found.group(1)) * _UNITS[found.group(2)]


def wanted(argv: Sequence[str], environ: Mapping[str, str]) -> float | None:
    """The ``--persist`` of a command line (``argv`` without the program name): the last
    of ``--persist D``, ``--persist=D`` and ``--no-persist`` wins, else HOSTOPS_PERSIST,
    else the configuration file's ``persist`` (ranked as the command line ranks them).
    None: not a command that can run warm, not asked for, turned off, or a value that
    does not parse (the command line will say why)."""
    if not argv or argv[0] not in COMMANDS or "--help" in argv:
        return None
    text: str | None = environ.get(ENV) or None  # empty: not set, as click reads it
    args = list(argv[1:])
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--no-persist":
            text = "0"
        elif arg == "--persist" and i + 1 < len(args):
            text = args[i + 1]
        elif arg.startswith("--persist="):
            text = arg.partition("=")[2]
    if text is None:
        # Only now: the configuration file's reader (with the result model it checks
        # values against) is most of the thin client's import time (~20 ms).
        from hostops.userconfig import setting_text

        text = setting_text(environ, "persist")
    if not text:
        return None
    try:
        seconds = parse(text)
    except ValueError:
        return None
    return seconds or None
