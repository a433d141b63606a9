"""One-line reasons for what paramiko and the network raise."""

from __future__ import annotations


def reason(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, EOFError) or not text:
        return "connection closed by the remote side"
    return text.splitlines()[0]
