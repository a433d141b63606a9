"""Reasons of many hosts, grouped: the per-host parts of a failure's reason (the host's
name and address, ports, key fingerprints) taken out, so that 500 hosts refused for
one cause make one line of the summary, not 500."""

from __future__ import annotations

import re

_FINGERPRINT = re.compile(r"\b(?:SHA256|MD5):[A-Za-z0-9+/=:]+")
_IPV4 = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.])")
_IPV6_BRACKETED = re.compile(r"\[[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*\]")
_PORT = re.compile(r"(<address>\]?|<host>\]?):\d+")
_PORT_FLAG = re.compile(r"(-p|port) \d+")
ADDRESS, HOST = "<address>", "<host>"


def generalize(reason: str, host: str, address: str) -> str:
    """``reason`` with what is particular to one host replaced by placeholders:
    ``connect to 127.42.0.1:2: Connection refused`` becomes
    ``connect to <address>:<port>: Connection refused``. Texts that differ otherwise
    (``exit 1``, ``exit 2``) stay apart."""
    text = _FINGERPRINT.sub("<fingerprint>", reason)
    for literal, word in ((address, ADDRESS), (host, HOST)):
        # Short or numeric names ("1", "db") could stand for a word of the reason itself.
        if len(literal) >= 3 and not literal.isdigit() and literal in text:  # else: no regex
            text = re.sub(rf"(?<![\w.-]){re.escape(literal)}(?![\w-])", word, text)
    text = _IPV6_BRACKETED.sub(f"[{ADDRESS}]", _IPV4.sub(ADDRESS, text))
    text = _PORT.sub(r"\1:<port>", text)
    return _PORT_FLAG.sub(r"\1 <port>", text)
