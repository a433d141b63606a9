"""Masking vaulted values: whole texts, and output streams cut into chunks anywhere
(every cut of every test text is tried), without holding back ordinary output."""

from __future__ import annotations

import itertools

import pytest

from hostops.redact import MARK, Redactor

SECRET = "s3cr3t-välue"
M = MARK.encode()


def _chunked(redactor: Redactor, data: bytes, cuts: tuple[int, ...]) -> tuple[bytes, list[bytes]]:
    """The stream's whole output, and what each feed released."""
    stream = redactor.stream()
    bounds = [0, *cuts, len(data)]
    released = [stream.feed(data[a:b]) for a, b in itertools.pairwise(bounds)]
    return b"".join(released) + stream.flush(), released


@pytest.mark.parametrize(
    ("values", "text", "expected"),
    [
        ([SECRET], f"a {SECRET} b {SECRET}\n", f"a {MARK} b {MARK}\n"),
        ([SECRET], "no secret here, s3cr3t- alone\n", "no secret here, s3cr3t- alone\n"),
        (["abcd", "abcdefgh"], "xabcdefghx abcdx", f"x{MARK}x {MARK}x"),  # longest wins
        (["bcde", "abcdefgh"], "abcdefgh", MARK),
        (["abc", "1", "yes"], "abc 1 yes", "abc 1 yes"),  # too short to be masked
        (["line one here\nline two here\n"], "> line two here\r\n", f"> {MARK}\r\n"),
        (["aaaa"], "aaaaaaaaa", f"{MARK}{MARK}a"),
        (["vaulted"], "vaulted", MARK),  # the mark is never scanned again
    ],
)
def test_every_occurrence_is_masked_whatever_the_chunks(
    values: list[str], text: str, expected: str
) -> None:
    redactor = Redactor(values)
    assert redactor.text(text) == expected
    data = text.encode()
    for one, two in itertools.combinations_with_replacement(range(len(data) + 1), 2):
        whole, _ = _chunked(redactor, data, (one, two))
        assert whole == expected.encode(), (one, two)


def test_only_a_possible_start_of_a_value_is_held_back() -> None:
    redactor = Redactor([SECRET])
    stream = redactor.stream()
    assert stream.feed(b"ordinary output\n") == b"ordinary output\n"
    assert stream.feed(b"token: s3cr") == b"token: "  # could be the secret: held
    assert stream.feed(b"ews\n") == b"s3crews\n"  # it was not
    assert stream.feed(b"x s3cr3t-v\xc3") == b"x "
    assert stream.feed(b"\xa4lue!") == M + b"!"
    assert stream.feed(b"end s3c") == b"end "
    assert stream.flush() == b"s3c"  # the stream ended: released as it is
    assert stream.flush() == b""


def test_no_values_means_no_work() -> None:
    redactor = Redactor(["ab", ""])
    assert not redactor
    stream = redactor.stream()
    assert stream.feed(b"ab") == b"ab"
    assert redactor.text("ab") == "ab"
    assert SECRET not in repr(Redactor([SECRET]))
