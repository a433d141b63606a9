"""How many hosts run at once, counted on the server side: every command takes a ticket
under ``flock`` in a shared directory (the fleet's daemons run on this machine), so the
largest number of commands running together is known exactly, whatever the timing.

``--forks N`` is never exceeded; without it (adaptive), every host still runs once, the
budget grows past its start where the CPU is idle and holds where it is saturated, unless
the hosts are far (the machine's CPU reading and the far threshold are replaced,
in-process, to make each case certain)."""

from __future__ import annotations

import itertools
import math
import shlex
from pathlib import Path

import pytest

from hostops import RunOptions, load_inventory, run
from hostops.fleet import adaptive
from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import json_results, run_hostops

# Count this command in, record the count, run BODY, count it out: each step under the
# lock, and the count replaced whole (rename) for the gate, which reads it without.
_COUNTED = (
    "cd {d} && exec 9>>lock"
    " && flock 9 && n=$(( $(cat count) + 1 )) && echo $n > c.$$ && mv c.$$ count"
    " && echo $n >> peaks && flock -u 9 && {body}"
    " && flock 9 && echo $(( $(cat count) - 1 )) > c.$$ && mv c.$$ count"
)
# Wait until `need` commands run at once (then let everyone go), for at most about 60 s.
_GATE = (
    "i=0; while [ $(cat count) -lt {need} ] && [ ! -e go ]; do"
    " i=$((i+1)); [ $i -gt 600 ] && exit 3; sleep 0.1; done; touch go"
)


def _counter(tmp_path: Path) -> Path:
    d = tmp_path / "counter"
    d.mkdir()
    d.chmod(0o777)  # the fleet's user may not be us
    (d / "count").write_text("0\n")
    (d / "peaks").write_text("")
    return d


def _command(d: Path, body: str) -> str:
    return _COUNTED.format(d=shlex.quote(str(d)), body=body)


def _peak(d: Path) -> int:
    return max(int(n) for n in (d / "peaks").read_text().split())


def _inventory(fleet: SshdFleet, tmp_path: Path, n_hosts: int) -> Path:
    """``n_hosts`` host names over the first ten daemons (each under several names)."""
    daemons = fleet.hosts[:10]
    extra = {
        f"{h.name}-{k}": (h.address, h.port)
        for k in range(1, -(-n_hosts // len(daemons)))
        for h in daemons
    }
    extra = dict(itertools.islice(extra.items(), n_hosts - len(daemons)))
    return fleet.write_inventory(tmp_path / "inv.yaml", daemons, extra=extra)


@pytest.mark.parametrize("forks", [1, 7])
def test_forks_is_never_exceeded(sshd_fleet: SshdFleet, tmp_path: Path, forks: int) -> None:
    d = _counter(tmp_path)
    inv = _inventory(sshd_fleet, tmp_path, 30)
    r = run_hostops(
        *("run", _command(d, "sleep 0.2"), "--hosts", str(inv)),
        *("--forks", str(forks), "--workers", "2", "-o", "json"),
    )
    assert r.returncode == 0, r.stderr
    results = json_results(r.stdout)
    assert len(results) == 30 and {o["status"] for o in results.values()} == {"ok"}
    assert len((d / "peaks").read_text().split()) == 30  # each host ran once
    assert _peak(d) <= forks
    assert (d / "count").read_text().strip() == "0"


def test_default_runs_every_host_once(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    d = _counter(tmp_path)
    inv = _inventory(sshd_fleet, tmp_path, 90)
    r = run_hostops("run", _command(d, "true"), "--hosts", str(inv), "-o", "json")
    assert r.returncode == 0, r.stderr
    results = json_results(r.stdout)
    assert len(results) == 90 and {o["status"] for o in results.values()} == {"ok"}
    assert len((d / "peaks").read_text().split()) == 90
    assert _peak(d) <= adaptive.CEILING


def _machine(monkeypatch: pytest.MonkeyPatch, busy: float) -> None:
    """The machine's CPU as the governor reads it: ``busy`` of every tick."""
    ticks = itertools.count(1)

    def reading() -> tuple[int, int]:
        total = 1000 * next(ticks)
        return round(busy * total), total

    monkeypatch.setattr(adaptive, "_machine_cpu", reading)


def test_default_grows_past_its_start_while_the_cpu_is_idle(
    sshd_fleet: SshdFleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """100 hosts, each command waiting until 100 run at once: only a budget that grew
    past its start of 64 lets them all end ok (else they give up, exit 3)."""
    _machine(monkeypatch, busy=0.0)
    d = _counter(tmp_path)
    hosts = load_inventory(_inventory(sshd_fleet, tmp_path, 100))
    report = run(hosts, _command(d, _GATE.format(need=100)), options=RunOptions(workers=2))
    assert {r.status.value for r in report.results} == {"ok"}, report.results[0]
    assert _peak(d) == 100 > adaptive.START


def test_default_holds_at_its_start_while_the_cpu_is_saturated(
    sshd_fleet: SshdFleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _machine(monkeypatch, busy=1.0)
    monkeypatch.setattr(adaptive, "FAR_S", math.inf)  # near, however slow sshd is to start
    d = _counter(tmp_path)
    hosts = load_inventory(_inventory(sshd_fleet, tmp_path, 100))
    report = run(hosts, _command(d, "sleep 0.5"), options=RunOptions(workers=2))
    assert {r.status.value for r in report.results} == {"ok"}
    assert len((d / "peaks").read_text().split()) == 100
    assert _peak(d) <= adaptive.START


def test_default_grows_to_its_ceiling_for_far_hosts_while_the_cpu_is_saturated(
    sshd_fleet: SshdFleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CPU reads 100 % busy, but the hosts' first answers say they are far (any
    answer counts as slow here): the budget goes past its start, to all 100 hosts at
    once, through the workers' reports of their connections' first answers."""
    _machine(monkeypatch, busy=1.0)
    monkeypatch.setattr(adaptive, "FAR_S", 0.0)
    d = _counter(tmp_path)
    hosts = load_inventory(_inventory(sshd_fleet, tmp_path, 100))
    report = run(hosts, _command(d, _GATE.format(need=100)), options=RunOptions(workers=2))
    assert {r.status.value for r in report.results} == {"ok"}, report.results[0]
    assert _peak(d) == 100 > adaptive.START
