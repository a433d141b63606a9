"""Adaptive concurrency: how many host sessions run at once when ``--forks`` is not given.

A session spends most of its time waiting: for the host's answers (round trips)
and for CPU (the key exchange, here and on the host). Far hosts want many
sessions at once, or the run waits on the network; on a saturated machine more
sessions only add threads that fight for the CPU (measured on 2 cores, 200
loopback hosts: ``--forks 200`` is 25 % slower than 64; 100 ms away, 30 % faster).

So the run starts at :data:`START` sessions and, every :data:`TICK_S`, while hosts
wait for a session, reads how busy this machine's CPUs were since the last tick
(:class:`CpuMeter`): below :data:`TARGET_BUSY`, the round trips are the limit and
the budget grows in proportion to the headroom (:func:`next_limit`); at or above
it, the CPU is the limit and the budget holds. It never shrinks (a session that
has started is not stopped) and never passes its ceiling: :data:`CEILING`, the
hosts of the run, and what the open-file limit allows. The machine, not only
hostops's own processes, is measured: they share the CPUs with everything else on
it (on a loopback test fleet, with the sshd daemons themselves).

A busy CPU does not always mean more sessions cannot pay: the controller may be
busy with other work, or its reading include the daemons of hosts that also sit
far away (measured here behind a +100 ms proxy: the CPUs 90-100 % busy, yet
``--forks 200`` 27 % faster than 64). So the run also times each new connection's
first answer (:mod:`hostops.host.ssh.distance`: from the TCP connection up to the
server's first bytes, one round trip plus the server's start, never less than the
round trip; a connection still waiting after 0.1 s is told as that slow, so far hosts
are known about 0.1 s into the run, not two round trips later): when the first
:data:`FAR_ANSWERS` all took :data:`FAR_S` or more, the
hosts are far, the sessions wait on the network whatever the CPU says, and the
budget goes to its ceiling at once. A near fleet has quick answers among its first
ones even on a loaded machine (on 200 loopback daemons sharing 2 busy CPUs, the
quickest of the first 16 took 0.2-12 ms, most 10-50 ms; behind a +100 ms proxy,
every one 100 ms or more).

Where the machine's CPU time cannot be read (no ``/proc/stat``: not Linux), the
budget stays at :data:`START` unless the hosts are far.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

START = 64  # sessions at once at the start: the default before it was adaptive
CEILING = 256  # never more at once, however idle the machine (threads, sockets)
TARGET_BUSY = 0.85  # machine CPU fraction up to which more sessions are taken on
TICK_S = 0.2  # how often the budget is reconsidered
_MAX_GROWTH = 2.0  # at most this factor per tick: a short quiet spell is no proof
FAR_S = 0.08  # the first answers all this slow or slower: the hosts are far (Governor.far)
FAR_ANSWERS = 16  # how many first answers decide it (each worker sends at most this many)
_STAT = Path("/proc/stat")


@dataclass(frozen=True)
class Observation:
    """What the run looked like over one tick."""

    busy: float  # fraction of the machine's CPU time not idle since the last tick, 0..1
    running: int  # sessions in flight now
    waiting: int  # jobs waiting for a session now


def next_limit(limit: int, seen: Observation, ceiling: int) -> int:
    """The session budget after a tick that ended with ``seen``, at most ``ceiling``.

    It grows only when the budget was the limit (every session in use, jobs
    waiting) and the CPU was not (``busy`` below :data:`TARGET_BUSY`): to the
    budget that would have kept the CPU at the target if CPU time grows with the
    sessions, at most doubled, and never past the jobs there are to run."""
    if seen.waiting <= 0 or seen.running < limit or seen.busy >= TARGET_BUSY:
        return limit
    wanted = math.ceil(limit * min(_MAX_GROWTH, TARGET_BUSY / max(seen.busy, 0.01)))
    return max(limit, min(ceiling, wanted, seen.running + seen.waiting))


def _machine_cpu() -> tuple[int, int] | None:
    """(busy, total) clock ticks of every CPU since boot, or None if unknown."""
    try:
        with _STAT.open() as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    if len(fields) < 4:
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice: inside user]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return total - idle, total


class CpuMeter:
    """How busy this machine's CPUs were between two readings."""

    def __init__(self, read: Callable[[], tuple[int, int] | None] | None = None) -> None:
        self._read = read or _machine_cpu
        self._last = self._read()

    @property
    def available(self) -> bool:
        return self._last is not None

    def busy(self) -> float | None:
        """The busy fraction since the last call (or creation); None if unknown or no
        clock tick passed."""
        now = self._read()
        last, self._last = self._last, now
        if now is None or last is None or now[1] <= last[1]:
            return None
        return min(1.0, max(0.0, (now[0] - last[0]) / (now[1] - last[1])))


class Governor:
    """Decides the session budget of one run: ask :meth:`tick` when :meth:`wait_s` is 0,
    with the budget and what the dispatcher sees; it answers the new budget."""

    def __init__(
        self,
        ceiling: int,
        meter: CpuMeter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ceiling = ceiling
        self._meter = meter or CpuMeter()
        self._clock = clock
        self._next = clock() + TICK_S
        self._answers = 0  # first answers heard, up to FAR_ANSWERS
        self._quickest = math.inf  # the quickest of them

    @property
    def far(self) -> bool:
        """Whether the hosts are far: the run's first :data:`FAR_ANSWERS` connections all
        took :data:`FAR_S` or more to answer."""
        return self._answers >= FAR_ANSWERS and self._quickest >= FAR_S

    def heard(self, waited: float) -> None:
        """A new connection's first answer took ``waited`` seconds (see
        hostops.host.ssh.distance). Once the hosts are known to be far, the next tick is
        due at once; answers after the first :data:`FAR_ANSWERS` change nothing."""
        if self._answers >= FAR_ANSWERS:
            return
        self._answers += 1
        self._quickest = min(self._quickest, waited)
        if self.far:
            self._next = self._clock()

    def active(self, limit: int) -> bool:
        """Whether a budget of ``limit`` may still grow."""
        return limit < self.ceiling and (self._meter.available or self.far)

    def wait_s(self) -> float:
        """Seconds until the next tick is due (0 if it is)."""
        return max(0.0, self._next - self._clock())

    def tick(self, limit: int, running: int, waiting: int) -> int:
        """The budget from now on: the ceiling (at most the jobs there are) if the hosts
        are far and jobs wait, else as :func:`next_limit` says from the CPU; ``limit``
        if nothing is known."""
        self._next = self._clock() + TICK_S
        busy = self._meter.busy()
        if self.far and waiting > 0:  # (sessions may be free for a moment: a job just ended)
            return max(limit, min(self.ceiling, running + waiting))
        if busy is None:
            return limit
        return next_limit(limit, Observation(busy, running, waiting), self.ceiling)
