"""The user's configuration file, ``~/.config/hostops/config.toml``: found, read, and its
settings given with the line each is on.

Which file: ``$HOSTOPS_CONFIG`` (empty: none at all), else
``$XDG_CONFIG_HOME/hostops/config.toml``, else ``~/.config/hostops/config.toml``. What
the settings mean is the command line's business (hostops.cli.configured); here, only
what holds for every key: the file is TOML, its settings are top-level keys, and no
key names a secret (a password in a file that is read on every start would be the
worst place for one).

Standard library only (and ``tomli`` before Python 3.11): the warm-run client reads
``persist`` from it before anything else is imported (hostops.keeper.persist).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from hostops.errors import ConfigError

ENV = "HOSTOPS_CONFIG"
# A key that names a secret; a key for a file that holds one (vault-password-file) is
# a path, not a secret.
_SECRET = re.compile(r"pass(word|phrase|wd)?|secret|token|credential", re.IGNORECASE)
_FILE_KEY = re.compile(r"[-_]file\Z", re.IGNORECASE)
_SECRET_HINT = (
    "--ask-pass, --ask-key-pass and --ask-sudo-pass ask for one;"
    " $HOSTOPS_PASSWORD, $HOSTOPS_KEY_PASSPHRASE and $HOSTOPS_SUDO_PASSWORD carry one;"
    " vault-password-file names a file"
)
_AT_LINE = re.compile(r"\s*\(at line (\d+), column \d+\)\s*\Z")
_BARE = r"[A-Za-z0-9_-]+"
_QUOTED = r"\"(?:[^\"\\]|\\.)*\"|'[^']*'"
_PART = rf"(?:{_BARE}|{_QUOTED})"
_KEY_LINE = re.compile(rf"\s*(?P<key>{_PART}(?:\s*\.\s*{_PART})*)\s*=")
_TABLE_LINE = re.compile(rf"\s*\[\[?\s*(?P<key>{_PART}(?:\s*\.\s*{_PART})*)\s*\]\]?")


@dataclass(frozen=True)
class Setting:
    """One top-level key of the file: its value as TOML gave it and its line."""

    key: str
    value: object
    line: int


@dataclass(frozen=True)
class ConfigFile:
    """The settings of one configuration file, by key, in the file's order."""

    path: Path
    settings: dict[str, Setting]

    def where(self, key: str) -> str:
        """``FILE:LINE`` of ``key``."""
        return f"{self.path}:{self.settings[key].line}"


def location(environ: Mapping[str, str]) -> Path | None:
    """The configuration file ``environ`` points to (which may not exist); None when
    ``$HOSTOPS_CONFIG`` is set empty: no configuration file."""
    chosen = environ.get(ENV)
    if chosen is not None:
        return Path(chosen).expanduser() if chosen.strip() else None
    base = environ.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(base):  # the XDG rule: a relative value is ignored
        home = environ.get("HOME") or os.path.expanduser("~")
        base = os.path.join(home, ".config")
    return Path(base) / "hostops" / "config.toml"


def load(environ: Mapping[str, str]) -> ConfigFile | None:
    """The configuration file ``environ`` points to, read; None if there is none (the
    default place holds no file). A file named by ``$HOSTOPS_CONFIG`` must exist.
    Raises ConfigError (``FILE:LINE: ...``)."""
    path = location(environ)
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if ENV in environ:
            raise ConfigError(f"no such file (named by ${ENV})", path=str(path)) from None
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=str(path)) from None
    return parse(path, data)


def parse(path: Path, data: bytes) -> ConfigFile:
    """The settings of ``data``, the text of the file at ``path``. Raises ConfigError:
    not TOML, a key naming a secret (anywhere in the file), or a table."""
    # Here, not at the top: every command reads this module, most have no file (~2 ms).
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - the same parser, as a package (pyproject's conditional dependency)
        import tomli as tomllib

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError("not UTF-8 text", path=str(path), line=line) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _AT_LINE.search(message)
        line = int(found.group(1)) if found else 1
        reason = message[: found.start()] if found else message
        raise ConfigError(f"not TOML: {reason}", path=str(path), line=line) from None
    lines = key_lines(text)

    def line_of(keys: tuple[str, ...]) -> int:
        for end in range(len(keys), 0, -1):  # an inline table's key: the line of its table
            if keys[:end] in lines:
                return lines[keys[:end]]
        return 1

    _refuse_secrets(path, document, (), line_of)
    settings: dict[str, Setting] = {}
    for key, value in document.items():
        if isinstance(value, dict):
            raise ConfigError(
                f"[{key}]: the settings are top-level keys, not tables",
                path=str(path),
                line=line_of((key,)),
            )
        settings[key] = Setting(key, value, line_of((key,)))
    return ConfigFile(path, settings)


def _refuse_secrets(
    path: Path,
    table: Mapping[str, object],
    within: tuple[str, ...],
    line_of: Callable[[tuple[str, ...]], int],
) -> None:
    for key, value in table.items():
        keys = (*within, key)
        if _SECRET.search(key) and not _FILE_KEY.search(key):
            raise ConfigError(
                f"{'.'.join(keys)}: no secrets in the configuration file ({_SECRET_HINT})",
                path=str(path),
                line=line_of(keys),
            )
        if isinstance(value, dict):
            _refuse_secrets(path, value, keys, line_of)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _refuse_secrets(path, item, keys, line_of)


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """The line each key (as the full path of names: table, then key) is first given
    on. TOML's parser keeps no positions; keys sit at the start of a line, under the
    last table header, which is all this needs to know (lines inside multi-line
    strings are skipped)."""
    found: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    in_string: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if in_string is not None:
            if line.count(in_string) % 2 == 1:
                in_string = None
            continue
        header = _TABLE_LINE.match(line)
        key = None if header else _KEY_LINE.match(line)
        if header:
            table = _split_key(header.group("key"))
            found.setdefault(table, number)
        elif key:
            found.setdefault((*table, *_split_key(key.group("key"))), number)
            rest = line[key.end() :]
            for quotes in ('"""', "'''"):
                if rest.count(quotes) % 2 == 1:
                    in_string = quotes
    return found


def _split_key(dotted: str) -> tuple[str, ...]:
    parts = re.findall(_PART, dotted)
    return tuple(p[1:-1] if p[:1] in "\"'" else p for p in parts)


def setting_text(environ: Mapping[str, str], key: str) -> str | None:
    """The value of ``key`` in the configuration file, as text; None when there is no
    file, no such key, or the file cannot be used (the command line says why). For
    those that must decide before the command line loads (the warm-run client)."""
    try:
        found = load(environ)
    except ConfigError:
        return None
    if found is None or key not in found.settings:
        return None
    value = found.settings[key].value
    return value if isinstance(value, str) else str(value)
