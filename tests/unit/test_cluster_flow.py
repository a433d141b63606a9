"""The controller's flow-credit thread (ClusterWorkers._flow): the aggregator's consumed
counters go to every live shard when they moved, and the next look comes when a credit
step could be due at the pace output was consumed (between _FLOW_TICK_S and
_FLOW_IDLE_S)."""

from __future__ import annotations

import pytest
from pytest_mock import MockerFixture

from hostops.cluster import source


class _Shard:
    def __init__(self, alive_for: int) -> None:
        self.alive_for = alive_for  # how many is_alive() checks of the loop it lives
        self.credits: list[list[int]] = []

    def is_alive(self) -> bool:
        return self.alive_for > 0

    def send_credit(self, consumed: list[int]) -> None:
        self.credits.append(list(consumed))


def test_credit_goes_when_counters_move_and_the_next_look_follows_the_pace(
    mocker: MockerFixture,
) -> None:
    mib = 1 << 20
    consumed = [0, 0, 0]
    # After the Nth sleep, counter i gets n more bytes consumed.
    moves = {2: (1, 4096), 3: (0, 8 * mib), 4: (0, mib), 5: (2, mib // 4)}
    shard, gone = _Shard(8), _Shard(0)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        shard.alive_for -= 1
        if len(sleeps) in moves:
            index, n = moves[len(sleeps)]
            consumed[index] += n

    mocker.patch.object(source.time, "sleep", sleep)
    source.ClusterWorkers._flow(mocker.Mock(), [shard, gone], consumed)  # type: ignore[arg-type]
    # (the figures below assume these)
    assert (mib, 0.05, 0.4) == (source._CREDIT_STEP, source._FLOW_TICK_S, source._FLOW_IDLE_S)
    assert sleeps == pytest.approx(
        [
            0.4,  # nothing consumed yet: no credit can be owed soon
            0.4,
            0.4,  # 4 KiB in 0.4 s: a step is ~100 s away at that pace
            0.05,  # 8 MiB in 0.4 s: a step every 0.05 s, the shortest wait
            0.05,  # 1 MiB in 0.05 s
            0.2,  # 256 KiB in 0.05 s: a step in 0.2 s
            0.4,  # nothing more
            0.4,
        ]
    )
    assert shard.credits == [
        [0, 0, 0],
        [0, 4096, 0],
        [8 * mib, 4096, 0],
        [9 * mib, 4096, 0],
        [9 * mib, 4096, mib // 4],
    ]
    assert gone.credits == []  # a shard that ended gets nothing
