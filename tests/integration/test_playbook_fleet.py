"""Playbooks on real hosts: the examples against the sshd fleet, through the engine (worker
processes, one SSH connection per host for the whole playbook, counted in sshd's log)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hostops.fleet.rollout import play_plan
from hostops.models import Host, Status
from hostops.playbook import PlaybookResult, load_playbook, prepare
from hostops.testing import SshdFleet

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostopsTestKey test@hostops"


def fleet_hosts(fleet: SshdFleet, count: int, **per_host: Any) -> list[Host]:
    """Hosts for the first ``count`` daemons; ``per_host`` values are formatted with the name."""
    return [
        fleet.host(i, vars={k: v.format(name=fh.name) for k, v in per_host.items()})
        for i, fh in enumerate(fleet.hosts[:count])
    ]


def play(path: Path | str, hosts: list[Host], **extra_vars: Any) -> PlaybookResult:
    plan = prepare(load_playbook(path), hosts, extra_vars=extra_vars)
    return play_plan(plan).result


def logins(fleet: SshdFleet, hosts: list[Host]) -> dict[str, int]:
    """Logins each host's sshd has accepted so far (its log says so, one line each)."""
    by_name = {h.name: h for h in fleet.hosts}
    return {h.name: by_name[h.name].logins() for h in hosts}


def counts(result: PlaybookResult) -> list[tuple[str, int, int, int, int]]:
    """(task, ok, changed, failed, skipped) of every task of every play."""
    return [(t.name, t.ok, t.changed, t.failed, t.skipped) for p in result.plays for t in p.tasks]


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Path]:
    """Where the demo services live, one directory per host; stopped at the end."""
    root = tmp_path / "services"
    yield root
    for pidfile in root.glob("*/demo-service.pid"):
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text()), signal.SIGTERM)


def test_rolling_restart(sshd_fleet: SshdFleet, services: Path) -> None:
    hosts = fleet_hosts(sshd_fleet, 4, demo_dir=f"{services}/{{name}}")
    before = logins(sshd_fleet, hosts)
    result = play(EXAMPLES / "rolling-restart.yaml", hosts)
    after = logins(sshd_fleet, hosts)
    assert result.stopped is None, result
    assert counts(result) == [
        ("create the service directory", 0, 4, 0, 0),
        ("install the service script", 0, 4, 0, 0),
        ("stop the service", 4, 0, 0, 0),  # was not running: nothing changed
        ("start the service", 0, 4, 0, 0),
        ("health check", 4, 0, 0, 0),
    ]
    # One host at a time; one SSH login per host for its five tasks (and the upload).
    assert result.plays[0].batches == (("host01",), ("host02",), ("host03",), ("host04",))
    assert {h: after[h] - before[h] for h in after} == dict.fromkeys(after, 1)
    first = {h.name: (services / h.name / "demo-service.pid").read_text() for h in hosts}

    # Again: the directory exists (skipped), the script is unchanged, every service restarts.
    result = play(EXAMPLES / "rolling-restart.yaml", hosts)
    assert counts(result) == [
        ("create the service directory", 0, 0, 0, 4),
        ("install the service script", 4, 0, 0, 0),
        ("stop the service", 0, 4, 0, 0),
        ("start the service", 0, 4, 0, 0),
        ("health check", 4, 0, 0, 0),
    ]
    for h in hosts:
        assert (services / h.name / "demo-service.pid").read_text() != first[h.name]


def test_a_failing_host_stops_the_rollout(sshd_fleet: SshdFleet, services: Path) -> None:
    hosts = fleet_hosts(sshd_fleet, 4, demo_dir=f"{services}/{{name}}")
    services.mkdir()
    (services / "blocker").write_text("")  # host02's directory cannot be made under a file
    hosts[1] = dataclasses.replace(hosts[1], vars={"demo_dir": f"{services}/blocker/x"})
    result = play(EXAMPLES / "rolling-restart.yaml", hosts)
    (restart,) = result.plays
    assert restart.stopped == (
        "play 'rolling restart of the demo service': 1 of 1 hosts failed in batch 2 "
        "(max_fail 0: at most 0)"
    )
    assert restart.batches == (("host01",), ("host02",))
    assert restart.not_run == ("host03", "host04")
    assert result.host_statuses() == {
        "host01": Status.OK,
        "host02": Status.FAILED,
        "host03": Status.SKIPPED,
        "host04": Status.SKIPPED,
    }
    failure = restart.tasks[0].results[1]
    assert failure.host == "host02" and b"Not a directory" in failure.stderr
    assert not (services / "host03").exists()  # never touched


def test_disk_usage_report(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    hosts = fleet_hosts(sshd_fleet, 3)
    reports = tmp_path / "reports"
    result = play(EXAMPLES / "disk-usage.yaml", hosts, report_dir=str(reports), warn_at=0)
    assert result.stopped is None
    assert counts(result) == [
        ("filesystem usage", 3, 0, 0, 0),
        ("flag a filesystem above the threshold", 3, 0, 0, 0),  # everything is >= 0%
        ("write the full report", 0, 3, 0, 0),
        ("download it", 0, 3, 0, 0),
        ("remove it from the host", 3, 0, 0, 0),
    ]
    flagged = result.plays[0].tasks[1].results[0]
    assert flagged.stderr.decode().startswith("host01: / is ") and flagged.stderr.endswith(
        b"% full\n"
    )
    for h in hosts:
        report = reports / h.name / "tmp" / f"hostops-disk-{h.name}.txt"
        assert "Filesystem" in report.read_text()
        assert not Path(f"/tmp/hostops-disk-{h.name}.txt").exists()  # removed from the "host"


def test_ssh_key_rollout(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    hosts = fleet_hosts(sshd_fleet, 4, authorized_keys=f"{keys}/{{name}}/authorized_keys")
    (keys / "host03").mkdir(parents=True)
    (keys / "host03" / "authorized_keys").write_text(f"ssh-rsa AAAAother other\n{KEY}\n")
    result = play(EXAMPLES / "ssh-key-rollout.yaml", hosts, ssh_key=KEY)
    assert counts(result) == [
        ("make sure the key directory exists", 4, 0, 0, 0),
        ("add the key where it is missing", 1, 3, 0, 0),  # host03 had it already
        ("check it is there exactly once", 4, 0, 0, 0),
    ]
    assert result.plays[0].batches == (("host01",), ("host02",), ("host03",), ("host04",))
    for h in hosts:
        lines = (keys / h.name / "authorized_keys").read_text().splitlines()
        assert lines.count(KEY) == 1
    result = play(EXAMPLES / "ssh-key-rollout.yaml", hosts, ssh_key=KEY)
    assert counts(result)[1] == ("add the key where it is missing", 4, 0, 0, 0)


def test_a_script_task_and_registered_output(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    (tmp_path / "report.sh").write_text('#!/bin/sh\necho "$1 from $(basename "$0")"\npwd\n')
    book = tmp_path / "book.yaml"
    book.write_text(
        """
- hosts: all
  tasks:
    - script: report.sh {{ inventory_hostname | quote }}
      cwd: /tmp
      register: out
    - run: echo {{ out.stdout.splitlines()[0] | quote }} > {{ dest }}/{{ inventory_hostname }}
"""
    )
    hosts = fleet_hosts(sshd_fleet, 2)
    result = play(book, hosts, dest=str(tmp_path))
    assert result.host_statuses() == {"host01": Status.OK, "host02": Status.OK}
    script = result.plays[0].tasks[0].results[0]
    said, where = script.stdout.decode().splitlines()
    assert said.startswith("host01 from .hostops-") and said.endswith("-report.sh")
    assert where == "/tmp"
    assert (tmp_path / "host02").read_text().startswith("host02 from .hostops-")
    # The script was uploaded into the login user's home, and is gone.
    home = Path(os.path.expanduser(f"~{sshd_fleet.user}"))
    assert not list(home.glob(".hostops-*-report.sh"))
