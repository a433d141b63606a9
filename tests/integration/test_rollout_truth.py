"""A rolling playbook stopped at a failure accounts for every host truthfully (issue 14):
hosts that ran part of it are ``incomplete``, hosts never started ``not_run``; both
exit 1 and are selected by ``--rerun failed``, so fixing the cause and re-running
leaves the change on every host. The run record holds exactly the hosts the plays
selected."""

from __future__ import annotations

from pathlib import Path

from hostops.journal import list_runs, load_run
from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import json_results, run_hostops

_PLAYBOOK = """
- name: roll
  hosts: {pattern}
  serial: 5
  max_fail: 0
  tasks:
    - name: prepare
      run: mkdir -p {root}/{{{{ inventory_hostname }}}} && cat {root}/gate-{{{{ inventory_hostname }}}}
    - name: change
      run: touch {root}/{{{{ inventory_hostname }}}}/changed
"""


def _rollout(
    fleet: SshdFleet, tmp_path: Path, count: int, pattern: str, closed: str = ""
) -> tuple[Path, Path, Path]:
    """(inventory, playbook, the hosts' directory) for ``count`` fleet hosts; the gate
    of ``closed`` is missing, so its first task fails."""
    inv = fleet.write_inventory(tmp_path / "inv.yaml", fleet.hosts[:count])
    root = tmp_path / "hosts"
    root.mkdir()
    for h in fleet.hosts[:count]:
        if h.name != closed:
            (root / f"gate-{h.name}").write_text("")
    book = tmp_path / "roll.yaml"
    book.write_text(_PLAYBOOK.format(pattern=pattern, root=root))
    return inv, book, root


def test_a_stopped_rollout_says_incomplete_and_not_run_and_rerun_failed_finishes_it(
    sshd_fleet: SshdFleet, tmp_path: Path, isolated_home: Path
) -> None:
    hosts = sshd_fleet.hosts[:10]
    inv, book, root = _rollout(sshd_fleet, tmp_path, 10, "all", closed="host03")
    first = run_hostops("play", str(book), "--hosts", str(inv), "-o", "json", "--no-color")
    assert first.returncode == 1, first.stderr
    res = json_results(first.stdout)
    statuses = {h: o["status"] for h, o in res.items()}
    assert statuses == {
        "host01": "incomplete",
        "host02": "incomplete",
        "host03": "failed",
        "host04": "incomplete",
        "host05": "incomplete",
        **{f"host{i:02d}": "not_run" for i in range(6, 11)},
    }
    assert (res["host01"]["tasks_done"], res["host01"]["tasks_total"]) == (1, 2)
    assert (res["host07"]["tasks_done"], res["host07"]["tasks_total"]) == (0, 2)
    assert res["host01"]["error"].startswith("1 of 2 tasks done: play 'roll': 1 of 5 hosts")
    # The summary and the recap say the same.
    assert "4 incomplete" in first.stderr and "5 not_run" in first.stderr
    summary = [line.split() for line in first.stderr.splitlines()]
    assert ["incomplete", "host[01-02,04-05]", "1", "of", "2", "tasks", "done:"] in [
        line[:7] for line in summary
    ]
    assert ["not_run", "host[06-10]", "not", "run:", "play", "'roll':"] in [
        line[:6] for line in summary
    ]
    assert "never started: host[06-10] (not_run)" in first.stderr
    assert not any((root / h.name / "changed").exists() for h in hosts)

    # The cause fixed, --rerun failed selects all ten hosts and finishes the change.
    (root / "gate-host03").write_text("")
    again = run_hostops("play", str(book), "--hosts", str(inv), "--rerun", "failed", "-o", "json")
    assert again.returncode == 0, again.stderr
    assert set(json_results(again.stdout)) == {h.name for h in hosts}
    assert all((root / h.name / "changed").exists() for h in hosts)


def test_the_record_of_a_play_holds_exactly_the_hosts_its_plays_selected(
    sshd_fleet: SshdFleet, tmp_path: Path, isolated_home: Path
) -> None:
    inv, book, _root = _rollout(sshd_fleet, tmp_path, 4, "host0[1-2]")
    done = run_hostops("play", str(book), "--hosts", str(inv), "-o", "quiet")
    assert done.returncode == 0, done.stderr
    (path,) = list_runs(isolated_home / ".local/state/hostops/runs")
    past = load_run(path)
    assert past.header["hosts"] == ["host01", "host02"] and past.complete
    shown = run_hostops("show", "-o", "quiet")
    assert shown.returncode == 0 and "no result" not in shown.stderr, shown.stderr
    assert "2 hosts" in shown.stderr
    history = run_hostops("history")
    assert "not recorded" not in history.stdout and "2 ok" in history.stdout, history.stdout
