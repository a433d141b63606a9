"""Check mode: templates resolved and `when` evaluated per host where it can be; nothing runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from playbook_fakes import hosts, plan_from

from hostops.cli import main
from hostops.playbook import PlannedTask, Would, check

BOOK = """
- name: rolling restart
  hosts: all
  serial: 2
  max_fail: 0
  tasks:
    - name: stop
      run: /opt/svc/ctl stop {{ svc | quote }}
      register: stopped
    - name: odd only
      run: echo odd
      when: n % 2 == 1
      register: odd
    - name: after odd
      run: echo {{ odd.status }}
      when: odd.status == 'skipped'
    - name: report
      run: echo {{ stopped.stdout }}
    - name: if stopped
      run: echo x
      when: stopped.rc == 0
    - put: {src: book.yaml, dest: /etc/app.conf, mode: '0640'}
      creates: /etc/{{ svc }}.lock
      removes: /tmp/go
    - get: {src: /var/log/app.log, dest: out}
    - name: broken
      run: echo {{ svc.missing }}
"""


def test_what_each_task_would_do_on_each_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A get's relative dest is relative to the current directory, not the playbook's,
    # as users expect of a command-line tool; check mode shows where it resolves.
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    plan = plan_from(tmp_path, BOOK, hosts("web01", "web02", "web03", svc="my app"))
    report = check(plan)
    (play,) = report.plays
    assert play.batches == (("web01", "web02"), ("web03",)) and play.max_fail == "0"
    assert (
        report.lines()[0] == "play 1 'rolling restart': 2 batches: web[01-02] | web03; max_fail 0"
    )
    web01, web02, _ = play.hosts
    assert web01.tasks == (
        PlannedTask(1, "stop", Would.RUN, "run: /opt/svc/ctl stop 'my app'"),
        PlannedTask(2, "odd only", Would.SKIP, "run: echo odd", "when is false"),
        # A task that is sure to be skipped registers a known (skipped) result.
        PlannedTask(3, "after odd", Would.RUN, "run: echo skipped"),
        PlannedTask(
            4,
            "report",
            Would.RUN,
            "run: echo {{ stopped.stdout }}",
            "reads registered 'stopped', known only when run",
        ),
        PlannedTask(
            5,
            "if stopped",
            Would.UNKNOWN,
            "run: echo x",
            "when reads registered 'stopped', known only when run",
        ),
        PlannedTask(
            6,
            "put: book.yaml -> /etc/app.conf",
            Would.RUN,
            f"put: {tmp_path / 'book.yaml'} -> /etc/app.conf (mode 0640)",
            "skipped if /etc/my app.lock exists; skipped if /tmp/go does not exist",
        ),
        PlannedTask(
            7,
            "get: /var/log/app.log -> out",
            Would.RUN,
            f"get: /var/log/app.log -> {elsewhere / 'out' / 'web01' / 'var/log/app.log'}",
        ),
        PlannedTask(
            8,
            "broken",
            Would.ERROR,
            "run: echo {{ svc.missing }}",
            "run: 'str object' has no attribute 'missing' (in 'echo {{ svc.missing }}')",
        ),
    )
    # web02 runs "odd only": whether "after odd" runs is known only when it has run.
    assert web02.tasks[1].would is Would.RUN
    assert web02.tasks[2] == PlannedTask(
        3,
        "after odd",
        Would.UNKNOWN,
        "run: echo {{ odd.status }}",
        "when reads registered 'odd', known only when run",
    )


def test_the_text_report_folds_hosts_with_the_same_plan(tmp_path: Path) -> None:
    text = """
        - name: up
          hosts: all
          tasks:
            - {name: hello, run: "echo {{ greeting }}"}
            - {run: uptime, when: n < 2}
        """
    plan = plan_from(tmp_path, text, hosts("web01", "web02", "web03", greeting="hi"))
    assert check(plan).lines() == [
        "play 1 'up': 1 batch: web[01-03]",
        "  web[01-02]",
        "    1. hello: run",
        "         run: echo hi",
        "    2. run: uptime: run",
        "         run: uptime",
        "  web03",
        "    1. hello: run",
        "         run: echo hi",
        "    2. run: uptime: skip (when is false)",
    ]


def test_a_play_left_without_hosts(tmp_path: Path) -> None:
    text = "- hosts: db\n  tasks: [{run: uptime}]\n"
    inventory = [*hosts("web01"), *hosts("db01", groups=["db"])]
    plan = plan_from(tmp_path, text, inventory, limit={"web01"})
    assert check(plan).lines() == ["play 1 'db': 0 batches: no hosts"]


def test_a_check_that_foresees_a_failure_exits_1_naming_host_and_task(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``play --check`` as a gate: a task that would fail on a host (a run rendering to
    nothing there) is not a pass. Nothing runs."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    inventory = tmp_path / "local.yaml"
    inventory.write_text(
        "hosts:\n  loc1: {connection: local, vars: {cmd: 'touch ran'}}\n"
        "  loc2: {connection: local, vars: {cmd: ''}}\n"
    )
    book = tmp_path / "book.yaml"
    book.write_text("- hosts: all\n  tasks:\n    - {name: go, run: '{{ cmd }}'}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["play", str(book), "--hosts", str(inventory), "--check"]) == 1
    err = capfd.readouterr().err
    assert err == (
        "hostops: check: would fail on loc2: play 1 task 1 'go': run: '{{ cmd }}' renders"
        " to nothing\n"
    )
    assert not (tmp_path / "ran").exists()
    book.write_text("- hosts: all\n  tasks:\n    - {name: go, run: 'touch ran'}\n")
    assert main(["play", str(book), "--hosts", str(inventory), "--check"]) == 0
