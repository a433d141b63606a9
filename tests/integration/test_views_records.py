"""Views (gather, diff, quiet), --out-dir, run records, history/show and --rerun,
against the real fleet through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from hostops.journal import list_runs, load_run
from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import json_results, run_hostops, start_hostops, wait_for


def _odd_out(fleet: SshdFleet, odd: list[int], then: str = "") -> str:
    """A command that prints 'odd' and exits 2 on the fleet hosts numbered in ``odd``
    (1-based), 'same' elsewhere. Each sshd knows which address it listens on."""
    cases = "|".join(f"*' {fleet.hosts[i - 1].address} '*" for i in odd)
    return f'case "$SSH_CONNECTION" in {cases}) echo odd; exit 2;; esac; echo same{then}'


def _block(label: str, *lines: str) -> str:
    rule = "-" * len(label)
    return f"{rule}\n{label}\n{rule}\n" + "".join(f"{line}\n" for line in lines)


def _records(home: Path) -> list[Path]:
    return list_runs(home / ".local/state/hostops/runs")


def test_gather_folds_identical_outputs_largest_first(fleet20):
    fleet, inv = fleet20
    r = run_hostops("run", _odd_out(fleet, [3, 7]), "--hosts", str(inv), "-o", "gather")
    assert r.returncode == 1, r.stderr
    assert r.stdout == _block("host[01-02,04-06,08-20] (18)", "same") + _block(
        "host[03,07] (2) exit 2", "odd"
    )
    assert "failed  host[03,07]  exit 2" in r.stderr  # the summary, on stderr


def test_diff_shows_two_odd_hosts_as_a_diff_against_the_majority(fleet20):
    fleet, inv = fleet20
    r = run_hostops("run", _odd_out(fleet, [5, 6], "; echo up"), "--hosts", str(inv), "-o", "diff")
    assert r.returncode == 1, r.stderr
    majority, rest = r.stdout.split("host[05-06] (2) exit 2: differs from the majority\n")
    assert "host[01-04,07-20] (18): the majority" in majority
    assert majority.endswith("same\nup\n" + "-" * 49 + "\n")  # the next block's rule
    assert rest.splitlines()[1:] == [
        "--- majority",
        "+++ host[05-06]",
        "@@ -1,2 +1 @@",
        "-same",
        "-up",
        "+odd",
    ]


def test_quiet_prints_only_the_summary(fleet20):
    _fleet, inv = fleet20
    r = run_hostops("run", "echo hi", "--hosts", str(inv), "-o", "quiet")
    assert r.returncode == 0 and r.stdout == ""
    assert r.stderr.startswith("hostops: 20 hosts in ") and "20 ok" in r.stderr


def test_out_dir_has_every_hosts_raw_output_and_status_in_any_view(fleet20, tmp_path):
    fleet, inv = fleet20
    out = tmp_path / "out" / "deep"
    cmd = _odd_out(fleet, [2]) + "; printf 'err\\033[31m\\n' >&2"
    r = run_hostops("run", cmd, "--hosts", str(inv), "-o", "quiet", "--out-dir", str(out))
    assert r.returncode == 1, r.stderr
    assert len(list(out.iterdir())) == 20 * 3
    assert (out / "host01.out").read_bytes() == b"same\n"
    assert (out / "host01.err").read_bytes() == b"err\x1b[31m\n"  # raw bytes, not made visible
    assert (out / "host01.status").read_text() == "ok 0\n"
    assert (out / "host02.out").read_bytes() == b"odd\n"
    assert (out / "host02.status").read_text() == "failed 2 exit 2\n"


def test_out_dir_that_cannot_be_made_is_a_usage_error(fleet20, tmp_path):
    _fleet, inv = fleet20
    (tmp_path / "file").write_text("")
    r = run_hostops("run", "true", "--hosts", str(inv), "--out-dir", str(tmp_path / "file" / "x"))
    assert r.returncode == 2 and r.stderr.startswith("hostops: error: --out-dir ")
    assert len(r.stderr.splitlines()) == 1


def test_record_rerun_failed_then_history_and_show(sshd_fleet: SshdFleet, tmp_path, isolated_home):
    hosts = sshd_fleet.hosts[:6]
    extra = {"closed": ("127.0.0.1", 1)}
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts, extra=extra)
    first = run_hostops("run", _odd_out(sshd_fleet, [4]), "--hosts", str(inv), "-o", "json")
    assert first.returncode == 3, first.stderr
    (path,) = _records(isolated_home)
    past = load_run(path)
    assert past.complete and len(past.results) == 7  # every host, in the record
    assert {r.host: r.status.value for r in past.results if r.status.value != "ok"} == {
        "host04": "failed",
        "closed": "unreachable",
    }
    assert f"run {past.id} recorded" in first.stderr

    again = run_hostops("run", "echo again", "--hosts", str(inv), "--rerun", "failed", "-o", "json")
    assert set(json_results(again.stdout)) == {"host04", "closed"}
    # --rerun with a status list, --from-run an older run, --limit narrowing it
    only = run_hostops(
        "run",
        "echo x",
        "--hosts",
        str(inv),
        "--rerun",
        "failed",
        "--from-run",
        past.id,
        "--limit",
        "host0*",
        "-o",
        "json",
    )
    assert set(json_results(only.stdout)) == {"host04"}, only.stderr
    ok = run_hostops(
        "run", "true", "--hosts", str(inv), "--rerun", "ok", "--from-run", "last-2", "-o", "json"
    )
    assert set(json_results(ok.stdout)) == {f"host0{i}" for i in (1, 2, 3, 5, 6)}

    history = run_hostops("history")
    lines = history.stdout.splitlines()
    assert len(lines) == 5 and lines[4].startswith(past.id)
    assert "5 ok, 1 failed, 1 unreachable" in lines[4]

    shown = run_hostops("show", past.id[:18], "-o", "gather", "--no-color")
    assert shown.returncode == 0, shown.stderr
    assert "host[01-03,05-06] (5)\n" in shown.stdout and "host04 (1) exit 2\n" in shown.stdout
    assert "unreachable  closed" in shown.stderr
    as_json = run_hostops("show", past.id, "-o", "json")
    assert json_results(as_json.stdout)["host04"]["stdout"] == "odd\n"


def test_rerun_with_nothing_to_rerun_and_bad_statuses(fleet20):
    _fleet, inv = fleet20
    assert run_hostops("run", "true", "--hosts", str(inv), "-o", "quiet").returncode == 0
    r = run_hostops("run", "true", "--hosts", str(inv), "--rerun", "failed")
    assert r.returncode == 0 and "nothing to run" in r.stderr and r.stdout == ""
    bad = run_hostops("run", "true", "--hosts", str(inv), "--rerun", "broke")
    assert bad.returncode == 2 and "--rerun: unknown status 'broke'" in bad.stderr
    lonely = run_hostops("run", "true", "--hosts", str(inv), "--from-run", "last")
    assert lonely.returncode == 2 and "--from-run needs --rerun" in lonely.stderr


def test_no_record_and_retention(fleet20, isolated_home):
    _fleet, inv = fleet20
    run_hostops("run", "true", "--hosts", str(inv), "-o", "quiet", "--no-record")
    assert _records(isolated_home) == []
    env = {**os.environ, "HOSTOPS_KEEP_RUNS": "2"}
    for _ in range(3):
        run_hostops("run", "true", "--hosts", str(inv), "-o", "quiet", env=env)
    assert len(_records(isolated_home)) == 2


def test_a_crash_loses_nothing_already_finished(sshd_fleet: SshdFleet, tmp_path, isolated_home):
    """hostops killed with SIGKILL mid-run: the record has every host that had finished."""
    hosts = sshd_fleet.hosts[:10]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    slow = "|".join(f"*' {h.address} '*" for h in hosts[5:])
    cmd = f'case "$SSH_CONNECTION" in {slow}) sleep 60;; esac; echo done'
    proc = start_hostops(
        "run",
        cmd,
        "--hosts",
        str(inv),
        "-o",
        "quiet",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:

        def finished() -> int:
            runs = _records(isolated_home)
            return len(load_run(runs[0]).results) if runs else 0

        assert wait_for(lambda: finished() == 5, timeout=60)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole of hostops, at once
        proc.wait(timeout=30)
    past = load_run(_records(isolated_home)[0])
    assert not past.complete
    assert [r.host for r in past.results] == [h.name for h in hosts[:5]]
    assert all(r.stdout == b"done\n" for r in past.results)
    assert past.missing == [h.name for h in hosts[5:]]
    shown = run_hostops("show", "-o", "quiet")
    assert "5 ok, 5 error" in shown.stderr and "no result in the run record" in shown.stderr
    lines = [json.loads(line) for line in _records(isolated_home)[0].read_text().splitlines()]
    assert lines[0]["type"] == "run" and lines[0]["hosts"] == [h.name for h in hosts]
