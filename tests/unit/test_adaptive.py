"""Adaptive concurrency: the budget grows while the CPU has room and hosts wait, never past
its ceiling; the dispatcher shares what it adds over the workers with room."""

from __future__ import annotations

import multiprocessing

import pytest

from hostops.fleet import adaptive
from hostops.fleet.adaptive import TARGET_BUSY, CpuMeter, Governor, Observation, next_limit
from hostops.fleet.dispatch import Dispatcher, Job, WorkerSlot
from hostops.models import Host
from hostops.operations import Command


def seen(busy: float, running: int = 64, waiting: int = 136) -> Observation:
    return Observation(busy, running, waiting)


def test_grows_in_proportion_to_the_headroom() -> None:
    # At half the target, twice the sessions would bring the CPU to it.
    assert next_limit(64, seen(TARGET_BUSY / 2), 256) == 128
    assert next_limit(64, seen(TARGET_BUSY * 0.8), 256) == 80


def test_at_most_doubles_in_one_tick() -> None:
    assert next_limit(64, seen(0.0), 256) == 128
    assert next_limit(64, seen(0.05), 1000) == 128


@pytest.mark.parametrize("busy", [TARGET_BUSY, 0.95, 1.0])
def test_holds_where_the_cpu_is_the_limit(busy: float) -> None:
    assert next_limit(64, seen(busy), 256) == 64


def test_holds_when_no_host_waits_for_a_session() -> None:
    assert next_limit(64, seen(0.1, waiting=0), 256) == 64


def test_holds_when_the_budget_is_not_all_in_use() -> None:
    """Sessions free but not taken (a thread limit, jobs tied to a worker): more would
    not be used either."""
    assert next_limit(64, seen(0.1, running=50), 256) == 64


def test_never_past_the_ceiling_nor_the_jobs_there_are() -> None:
    assert next_limit(64, seen(0.1), 100) == 100
    assert next_limit(64, seen(0.1, waiting=10), 256) == 74
    assert next_limit(256, seen(0.1), 256) == 256


def test_never_shrinks() -> None:
    """A budget above the ceiling (it was not raised by this) is held, not cut."""
    assert next_limit(80, seen(0.1), 64) == 80


def fake_stat(*readings: tuple[int, int] | None):  # type: ignore[no-untyped-def]
    values = iter(readings)
    return lambda: next(values)


def test_meter_reads_the_busy_fraction_between_readings() -> None:
    meter = CpuMeter(fake_stat((100, 1000), (150, 1100), (150, 1100), (250, 1200)))
    assert meter.available
    assert meter.busy() == pytest.approx(0.5)
    assert meter.busy() is None  # no clock tick passed
    assert meter.busy() == pytest.approx(1.0)


def test_meter_without_a_reading_is_unavailable() -> None:
    meter = CpuMeter(fake_stat(None, None))
    assert not meter.available and meter.busy() is None


def test_machine_cpu_reads_proc_stat(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice
    stat.write_text("cpu  100 5 50 800 20 1 2 3 7 0\ncpu0 1 2 3 4\n")
    monkeypatch.setattr(adaptive, "_STAT", stat)
    assert adaptive._machine_cpu() == (161, 981)  # iowait counts as idle; guest is in user
    stat.write_text("intr 1 2 3\n")
    assert adaptive._machine_cpu() is None
    monkeypatch.setattr(adaptive, "_STAT", tmp_path / "missing")
    assert adaptive._machine_cpu() is None


def test_the_live_machine_gives_a_fraction() -> None:
    """Where /proc/stat exists (Linux), the meter reads it."""
    meter = CpuMeter()
    if meter.available:
        sum(range(200_000))  # let a clock tick pass
        busy = meter.busy()
        assert busy is None or 0.0 <= busy <= 1.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_governor_ticks_on_its_interval() -> None:
    clock = Clock()
    readings = [(0, 1000), (300, 2000), (1250, 3000)]  # 30 % busy, then 95 %
    governor = Governor(256, CpuMeter(fake_stat(*readings)), clock)
    assert governor.active(64)
    assert governor.wait_s() == pytest.approx(adaptive.TICK_S)
    clock.now = adaptive.TICK_S
    assert governor.wait_s() == 0.0
    assert governor.tick(64, 64, 136) == 128
    assert governor.wait_s() == pytest.approx(adaptive.TICK_S)
    assert governor.tick(128, 128, 72) == 128
    assert not governor.active(256)


def test_governor_without_a_meter_never_grows() -> None:
    governor = Governor(256, CpuMeter(fake_stat(None, None)))
    assert not governor.active(64)
    assert governor.tick(64, 64, 136) == 64


def _saturated() -> CpuMeter:
    """A machine whose CPUs are 100 % busy at every reading."""
    ticks = iter(range(1, 10**6))
    return CpuMeter(lambda: (1000 * (t := next(ticks)), 1000 * t))


def _hear(governor: Governor, *waits: float) -> None:
    for waited in waits:
        governor.heard(waited)


def test_far_hosts_take_the_budget_to_the_ceiling_whatever_the_cpu() -> None:
    """The first FAR_ANSWERS connections all answered in FAR_S or more: the CPU reads
    100 % busy, yet the budget goes to the ceiling, at most the jobs there are, at the
    very next look (due at once)."""
    clock = Clock()
    governor = Governor(256, _saturated(), clock)
    _hear(governor, *[adaptive.FAR_S] * (adaptive.FAR_ANSWERS - 1))
    assert not governor.far and governor.wait_s() > 0
    assert governor.tick(64, 64, 136) == 64  # busy, and not known to be far yet
    governor.heard(0.3)
    assert governor.far and governor.wait_s() == 0.0
    assert governor.tick(64, 64, 136) == 200
    assert governor.tick(64, 64, 500) == 256
    assert governor.tick(64, 50, 136) == 186  # a job just ended: its session is free
    assert governor.tick(64, 64, 0) == 64  # no job waits: nothing to grow for


def test_one_quick_first_answer_makes_the_hosts_near() -> None:
    governor = Governor(256, _saturated())
    _hear(governor, 0.2, 0.001, *[0.2] * adaptive.FAR_ANSWERS)
    assert not governor.far
    assert governor.tick(64, 64, 136) == 64


def test_answers_after_the_first_ones_change_nothing() -> None:
    governor = Governor(256, _saturated())
    _hear(governor, *[0.2] * adaptive.FAR_ANSWERS)
    _hear(governor, 0.0, 0.0)
    assert governor.far


def test_far_hosts_grow_the_budget_where_the_cpu_cannot_be_read() -> None:
    governor = Governor(256, CpuMeter(lambda: None))
    assert not governor.active(64)
    _hear(governor, *[0.1] * adaptive.FAR_ANSWERS)
    assert governor.active(64) and not governor.active(256)
    assert governor.tick(64, 64, 136) == 200


class FakeProcess:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.sentinel = object()
        self.exitcode: int | None = None


class FixedGovernor(Governor):
    """Always due; answers ``answer`` whatever it is shown, and records what it was shown."""

    def __init__(self, answer: int, ceiling: int) -> None:
        super().__init__(ceiling, CpuMeter(lambda: (0, 0)))
        self.answer = answer
        self.shown: list[tuple[int, int, int]] = []
        self.answers: list[float] = []

    def heard(self, waited: float) -> None:
        self.answers.append(waited)

    def wait_s(self) -> float:
        return 0.0

    def tick(self, limit: int, running: int, waiting: int) -> int:
        self.shown.append((limit, running, waiting))
        return self.answer


def _dispatcher(budgets: tuple[int, ...], capacities: tuple[int, ...], answer: int, n: int):  # type: ignore[no-untyped-def]
    hosts = [Host(f"h{i:02d}", f"10.0.0.{i}") for i in range(n)]
    slots, far = [], []
    for i, (budget, capacity) in enumerate(zip(budgets, capacities, strict=True)):
        mine, theirs = multiprocessing.Pipe()
        slot = WorkerSlot(FakeProcess(100 + i), mine, free=budget, capacity=capacity)  # type: ignore[arg-type]
        slots.append(slot)
        far.append(theirs)
    governor = FixedGovernor(answer, sum(capacities))
    d = Dispatcher(hosts, slots, lambda *_: None, governor=governor)
    d.submit([Job(i, h, Command("true")) for i, h in enumerate(hosts)])
    return d, governor, far


def test_dispatcher_shares_the_growth_over_the_workers_with_room() -> None:
    d, governor, _ = _dispatcher((2, 2), (6, 3), answer=9, n=20)
    d.dispatch()  # the first look: before anything was sent
    assert governor.shown == [(4, 0, 20)]
    # 9 = 6 + 3: the second is full at 3; every session of the budget is taken.
    assert [len(s.sent) for s in d.slots] == [6, 3]
    assert [s.free for s in d.slots] == [0, 0]


def test_dispatcher_never_passes_a_worker_s_capacity() -> None:
    d, _, _ = _dispatcher((2, 2), (3, 3), answer=50, n=20)
    d.dispatch()
    assert [len(s.sent) for s in d.slots] == [3, 3]


def test_a_worker_that_could_not_start_a_thread_gets_no_more() -> None:
    d, _, _ = _dispatcher((2, 2), (8, 8), answer=4, n=20)
    d.slots[0].limited = True
    d.dispatch()
    assert [len(s.sent) for s in d.slots] == [2, 2]  # 4: nothing to add
    d._governor.answer = 8  # type: ignore[union-attr]
    d.dispatch()
    assert [len(s.sent) for s in d.slots] == [2, 6]


def test_dispatcher_passes_first_answers_to_the_governor() -> None:
    d, governor, workers = _dispatcher((2,), (8,), answer=2, n=20)
    workers[0].send(("heard", "h00", 0.25))
    workers[0].send(("started", "h01"))
    d.handle([d.slots[0].conn])
    assert governor.answers == [0.25]
    assert d.slots[0].started == {"h01"}


def test_no_governor_look_once_nothing_waits() -> None:
    d, governor, _ = _dispatcher((2,), (8,), answer=2, n=2)
    d.dispatch()
    assert d.wake_s() is None  # both hosts sent: nothing waits
    d.dispatch()
    assert len(governor.shown) == 1
