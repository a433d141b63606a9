"""hostops's own marker lines in a remote command's output (process group, sudo's prompt):
taken out wherever they are and however the packets split them, the rest passed on as it
comes."""

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
    out = b"".join(markers.feed(c) for c in chunks) + markers.give_up()
    return out, seen


def _bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


@pytest.mark.parametrize("split", [lambda d: [d], _bytewise])
def test_sudo_markers_are_taken_out_even_split_byte_by_byte(split) -> None:  # type: ignore[no-untyped-def]
    stream = PGID + PROMPT + b"Sorry, try again.\n" + PROMPT + STARTED + b"real error\n"
    out, seen = _run(split(stream), last="started")
    assert out == b"Sorry, try again.\nreal error\n"
    assert seen == [("pgid", b"4242"), ("prompt", b""), ("prompt", b""), ("started", b"")]


def test_output_passes_as_it_comes_but_for_a_marker_on_its_way() -> None:
    seen: list[tuple[str, bytes]] = []
    markers = Markers(NONCE, last="started", on_marker=lambda k, v: seen.append((k, v)))
    assert markers.feed(PGID + b"before ") == b"before "
    assert markers.feed(PROMPT[:5]) == b""  # the start of a tag
    assert markers.feed(PROMPT[5:] + STARTED[:-1]) == b""  # a marker line not ended yet
    assert markers.feed(STARTED[-1:] + b"after\n") == b"after\n"
    assert markers.feed(b"more" + PGID) == b"more" + PGID  # past the last: not looked at
    assert markers.done and [k for k, _ in seen] == ["pgid", "prompt", "started"]


def test_an_end_that_only_looked_like_a_tag_is_passed_on_with_what_follows() -> None:
    markers = Markers(NONCE, last="pgid", on_marker=lambda k, v: None)
    assert markers.feed(b"abc\x1ehost") == b"abc"
    assert markers.feed(b"ess\n") == b"\x1ehostess\n"
    assert markers.feed(b"\x1e") == b""
    assert markers.give_up() == b"\x1e" and markers.done


def test_markers_of_another_command_are_output() -> None:
    other = PGID.replace(NONCE.encode(), b"ffffffff")
    out, seen = _run([other + PGID + b"x\n"], last="pgid")
    assert out == other + b"x\n"
    assert seen == [("pgid", b"4242")]


def test_a_tag_whose_line_does_not_end_is_output_after_4_kib() -> None:
    seen: list[tuple[str, bytes]] = []
    markers = Markers(NONCE, last="pgid", on_marker=lambda k, v: seen.append((k, v)))
    tag = PGID.split(b":4242")[0] + b":"
    assert markers.feed(tag + b"x" * 4000) == b""
    assert markers.feed(b"y" * 200) == tag + b"x" * 4000 + b"y" * 200
    assert markers.feed(PGID) == b"" and seen == [("pgid", b"4242")]  # still looked for
