"""ssh_config lines split into words exactly as OpenSSH splits them.

Two splitters, as in OpenSSH's misc.c: ``strdelim`` (the keyword, and the
criteria of a ``Match`` line: whitespace or one ``=``, double quotes only) and
``argv_split`` (every other argument list: whitespace, single and double quotes,
``\\`` escapes, a word starting with ``#`` ends the line). ``ProxyCommand`` and
the other command keywords take the raw rest of the line instead.
"""

from __future__ import annotations

import functools
import os
import stat
from dataclasses import dataclass

from hostops.errors import ConfigError

_WHITESPACE = " \t\r\n"


def strdelim(text: str | None, split_equals: bool = True) -> tuple[str | None, str | None]:
    """The next word of ``text`` and the rest (None once consumed), as OpenSSH's ``strdelim``.

    The word is None when a double quote is not closed.
    """
    if text is None:
        return None, None
    stops = _WHITESPACE + '"' + ("=" if split_equals else "")
    at = next((i for i, c in enumerate(text) if c in stops), -1)
    if at < 0:
        return text, None
    if text[at] == '"':
        unquoted = text[:at] + text[at + 1 :]
        end = unquoted.find('"', at)
        if end < 0:
            return None, None
        return unquoted[:end], unquoted[end + 1 :].lstrip(_WHITESPACE)
    after_equals = split_equals and text[at] == "="
    rest = text[at + 1 :].lstrip(_WHITESPACE)
    if split_equals and rest.startswith("=") and not after_equals:
        rest = rest[1:].lstrip(_WHITESPACE)
    return text[:at], rest


def argv_split(text: str) -> list[str]:
    """The words of ``text`` as OpenSSH's ``argv_split`` (comments end the line).

    Raises ValueError for a quote that is not closed.
    """
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] in " \t":
            i += 1
            continue
        if text[i] == "#":
            break
        quote = ""
        word: list[str] = []
        while i < n:
            c = text[i]
            if (
                c == "\\"
                and i + 1 < n
                and (text[i + 1] in "'\"\\" or (not quote and text[i + 1] == " "))
            ):
                i += 1
                word.append(text[i])
            elif not quote and c in " \t":
                break
            elif not quote and c in "\"'":
                quote = c
            elif quote and c == quote:
                quote = ""
            else:
                word.append(c)
            i += 1
        if quote:
            raise ValueError("invalid quotes")
        words.append("".join(word))
    return words


@dataclass(frozen=True)
class Line:
    """One meaningful line: its keyword (lowercased), the raw rest of the line, and where.

    An option given outside ssh_config (as ``ssh -o``) has ``number`` 0 and may come
    already split into ``words``.
    """

    keyword: str
    rest: str
    path: str
    number: int
    words: tuple[str, ...] | None = None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.number}" if self.number else self.path

    def error(self, message: str) -> ConfigError:
        return ConfigError(message, path=self.path, line=self.number or None)

    def args(self) -> list[str]:
        """The arguments, split as OpenSSH's ``argv_split`` does. Raises ConfigError."""
        words = self._split
        if words is None:
            raise self.error("invalid quotes")
        return list(words)

    @functools.cached_property
    def _split(self) -> tuple[str, ...] | None:
        """Split once: a line is read for every host (None: its quotes are not closed)."""
        if self.words is not None:
            return self.words
        try:
            return tuple(argv_split(self.rest))
        except ValueError:
            return None

    def raw_value(self) -> str:
        """The rest of the line as ProxyCommand and ProxyJump take it."""
        return self.rest.lstrip(_WHITESPACE + "=")


def split_line(text: str, path: str, number: int) -> Line | None:
    """The keyword and rest of one line, or None for a blank or comment line.

    Raises ConfigError for a keyword without an argument.
    """
    text = text.rstrip(_WHITESPACE + "\f")
    if not text:
        return None
    keyword, rest = strdelim(text)
    if keyword == "":
        keyword, rest = strdelim(rest)
    if not keyword or keyword.startswith("#"):
        return None
    rest = (rest or "").lstrip(_WHITESPACE)
    if not rest:
        raise ConfigError(f'no argument after keyword "{keyword.lower()}"', path=path, line=number)
    return Line(keyword.lower(), rest, path, number)


def read_lines(path: str, check_permissions: bool) -> list[Line] | None:
    """The lines of ``path``, or None when it does not exist (a directory reads as empty).

    With ``check_permissions`` (OpenSSH's check on ~/.ssh/config and included files)
    the file must belong to root or to us and must not be writable by group or others.
    Raises ConfigError for an unreadable file or a bad line.
    """
    try:
        with open(path, "rb") as f:
            if check_permissions:
                st = os.fstat(f.fileno())
                if st.st_uid not in (0, os.getuid()) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                    raise ConfigError("bad owner or permissions (as ssh refuses it)", path=path)
            data = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except IsADirectoryError:
        return []
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=path) from None
    lines = []
    for number, raw in enumerate(data.decode("utf-8", "replace").split("\n"), 1):
        line = split_line(raw, path, number)
        if line is not None:
            lines.append(line)
    return lines
