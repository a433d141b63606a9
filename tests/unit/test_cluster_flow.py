"""The controller's flow-credit thread (ClusterWorkers._flow): the aggregator's consumed
counters go to every live shard when they moved; while none moves it looks less and
less often (up to _FLOW_IDLE_S), and at once at the normal pace again when one does."""

from __future__ import annotations

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


def test_credit_goes_when_counters_move_and_the_look_backs_off_while_they_do_not(
    mocker: MockerFixture,
) -> None:
    consumed = [0, 0, 0]
    moves = {3: (1, 4096), 7: (2, 10)}  # at the Nth sleep: counter i gets n more bytes
    shard, gone = _Shard(12), _Shard(0)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        shard.alive_for -= 1
        if len(sleeps) in moves:
            index, n = moves[len(sleeps)]
            consumed[index] += n

    mocker.patch.object(source.time, "sleep", sleep)
    source.ClusterWorkers._flow(mocker.Mock(), [shard, gone], consumed)  # type: ignore[arg-type]
    tick, idle = source._FLOW_TICK_S, source._FLOW_IDLE_S
    assert sleeps == [
        tick,  # the first look: counters as they start
        2 * tick,
        4 * tick,
        tick,  # counter 1 moved: sent, the normal pace again
        2 * tick,
        4 * tick,
        min(8 * tick, idle),
        tick,  # counter 2 moved
        2 * tick,
        4 * tick,
        min(8 * tick, idle),
        idle,
    ]
    assert shard.credits == [[0, 0, 0], [0, 4096, 0], [0, 4096, 10]]
    assert gone.credits == []  # a shard that ended gets nothing
