"""hostops's own marker lines on a remote command's stderr (process group, sudo's prompt):
taken out wherever they are and however the packets split them."""

from __future__ import annotations

import pytest

from hostops.host.ssh.command import Markers

NONCE = "1a2b3c4d"
PGID = f"\x1ehostops-pgid:{NONCE}:4242\n".encode()
PROMPT = f"\x1ehostops-prompt:{NONCE}:\n".encode()
STARTED = f"\x1ehostops-started:{NONCE}:\n".encode()


def _run(chunks: list[bytes], last: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    seen: list[tuple[str, bytes]] = []
    markers = Markers(NONCE, last=last, on_marker=lambda kind, value: seen.append((kind, value)))
    out = b"".join(markers.feed(c) for c in chunks) + markers.flush()
    return out, seen


def _bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


@pytest.mark.parametrize("split", [lambda d: [d], _bytewise])
def test_sudo_markers_are_taken_out_even_split_byte_by_byte(split) -> None:  # type: ignore[no-untyped-def]
    stream = PGID + PROMPT + b"Sorry, try again.\n" + PROMPT + STARTED + b"real error\n"
    out, seen = _run(split(stream), last="started")
    assert out == b"Sorry, try again.\nreal error\n"
    assert seen == [("pgid", b"4242"), ("prompt", b""), ("prompt", b""), ("started", b"")]


def test_stderr_is_held_until_the_last_marker_then_passes_at_once() -> None:
    seen: list[tuple[str, bytes]] = []
    markers = Markers(NONCE, last="started", on_marker=lambda k, v: seen.append((k, v)))
    assert markers.feed(PGID + b"before ") == b""
    assert markers.feed(PROMPT[:5]) == b""
    assert markers.feed(PROMPT[5:] + STARTED[:-1]) == b""
    assert markers.feed(STARTED[-1:] + b"after\n") == b"before after\n"
    assert markers.feed(b"more") == b"more"  # past the markers: nothing held
    assert markers.done


def test_markers_of_another_command_are_output() -> None:
    other = PGID.replace(NONCE.encode(), b"ffffffff")
    out, seen = _run([other + PGID + b"x\n"], last="pgid")
    assert out == other + b"x\n"
    assert seen == [("pgid", b"4242")]


def test_a_missing_marker_holds_at_most_64_kib() -> None:
    markers = Markers(NONCE, last="pgid", on_marker=lambda k, v: None)
    assert markers.feed(b"x" * 1000) == b""
    assert markers.feed(b"y" * 65536) == b"x" * 1000 + b"y" * 65536
    assert markers.done
