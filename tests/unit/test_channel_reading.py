"""A channel's output is read in bounded steps (hostops.host.ssh.reading), so that flow
control is asked again between them, however fast the host writes."""

from __future__ import annotations

from hostops.host.ssh.reading import CHUNK, READ_MAX, drain


class _Flood:
    """A channel whose buffer is refilled as fast as it is read, ``total`` bytes in all."""

    def __init__(self, total: int) -> None:
        self.left = total

    def ready(self) -> bool:
        return self.left > 0

    def recv(self, n: int) -> bytes:
        data = b"y" * min(n, CHUNK, self.left)
        self.left -= len(data)
        return data


def test_one_step_reads_at_most_its_bound_and_the_next_goes_on() -> None:
    flood = _Flood(100 * READ_MAX)  # read "while ready", all 100 would go in one step
    got: list[bytes] = []
    assert drain(flood.ready, flood.recv, got.append)
    assert sum(map(len, got)) == READ_MAX
    assert drain(flood.ready, flood.recv, got.append)
    assert sum(map(len, got)) == 2 * READ_MAX


def test_a_step_with_nothing_ready_reads_nothing() -> None:
    flood = _Flood(0)
    got: list[bytes] = []
    assert not drain(flood.ready, flood.recv, got.append)
    assert got == []
