"""Text into HTML, safely: every string of a report passes through here.

Remote output, host names, error texts and task names are anyone's: they are escaped
(``& < > " '``), so no markup in them is ever markup. Control characters (a terminal's
escape sequences, carriage returns, bidirectional overrides) are shown as the terminal
views show them (``^[`` for ESC, ``\\u202e``; see :func:`hostops.render.console.visible`),
marked so that they cannot pass for the same characters printed literally.
"""

from __future__ import annotations

import html
import re

from hostops.render.console import visible_text

# What the terminal views make visible (C0 but tab and newline, DEL, C1, bidirectional
# controls), and the noncharacters U+FFFE and U+FFFF, which HTML parsers complain of.
_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ufffe\uffff]"
)


def _shown(char: str) -> str:
    text = visible_text(char)
    return text if text != char else f"\\u{ord(char):04x}"


def text(value: str) -> str:
    """``value`` as HTML text: escaped, controls shown as marked visible text."""
    out = []
    at = 0
    for m in _CONTROL.finditer(value):
        out.append(html.escape(value[at : m.start()]))
        out.append(f'<span class="ctl">{html.escape(_shown(m[0]))}</span>')
        at = m.end()
    out.append(html.escape(value[at:]))
    return "".join(out)


def attr(value: str) -> str:
    """``value`` for an attribute's quoted value (a ``title``): escaped, quotes too,
    controls shown as visible text (newlines kept: a tooltip's lines)."""
    return html.escape(_CONTROL.sub(lambda m: _shown(m[0]), value), quote=True)


def decoded(data: bytes) -> str:
    """Bytes a host sent, as text (invalid UTF-8 replaced, as the record does)."""
    return data.decode("utf-8", "replace")


def seconds(value: float) -> str:
    """``0.52 s``, ``12.3 s``, ``2 min 05 s``."""
    if value < 10:
        return f"{value:.2f} s"
    if value < 120:
        return f"{value:.1f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest:02d} s"
