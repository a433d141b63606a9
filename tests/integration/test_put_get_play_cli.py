"""hostops put, get and play, rolling batches and forwarded stdin: the real CLI against
the sshd fleet."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import json_results, run_hostops

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_stdin_is_forwarded_to_every_host(fleet20, tmp_path):
    _fleet, inv = fleet20
    script = tmp_path / "fix.sh"
    script.write_text('echo "fixed $1"\necho "on $(uname -s)"\n')
    with open(script, "rb") as f:
        r = run_hostops("run", "bash -s -- now", "--hosts", str(inv), "-o", "json", stdin=f)
    assert r.returncode == 0, r.stderr
    res = json_results(r.stdout)
    assert len(res) == 20
    assert {o["stdout"] for o in res.values()} == {f"fixed now\non {os.uname().sysname}\n"}


def test_big_stdin_to_a_command_that_never_reads_it_does_not_hang(fleet20):
    _fleet, inv = fleet20
    r = run_hostops(
        "run", "echo ignored", "--hosts", str(inv), "-o", "quiet", input="x" * (8 << 20)
    )
    assert r.returncode == 0, r.stderr
    stdin_none = run_hostops(
        "run", "cat", "--hosts", str(inv), "-o", "json", "--no-stdin", input="nope"
    )
    assert {o["stdout"] for o in json_results(stdin_none.stdout).values()} == {""}


def test_batches_stop_after_a_batch_with_too_many_failures(fleet20):
    fleet, inv = fleet20
    bad = fleet.hosts[6].address  # host07, in the second batch of 5
    cmd = f"case \"$SSH_CONNECTION\" in *' {bad} '*) exit 4;; esac; echo fine"
    r = run_hostops(
        "run", cmd, "--hosts", str(inv), "--batch", "25%", "--max-fail", "0", "-o", "json"
    )
    assert r.returncode == 1, r.stderr
    res = json_results(r.stdout)
    assert sorted(h for h, o in res.items() if o["status"] == "ok") == [
        f"host{i:02d}" for i in (1, 2, 3, 4, 5, 6, 8, 9, 10)
    ]
    assert res["host07"]["status"] == "failed"
    skipped = sorted(h for h, o in res.items() if o["status"] == "skipped")
    assert skipped == [f"host{i:02d}" for i in range(11, 21)]
    assert res["host11"]["error"].startswith("not run: 1 of 5 hosts failed in batch 2")
    assert "skipped  host[11-20]  not run: 1 of 5 hosts failed in batch 2" in r.stderr
    streamed = run_hostops("run", "true", "--hosts", str(inv), "--batch", "10")
    assert "hostops: step: batch 1/2: host[01-10]" in streamed.stderr
    assert "hostops: step: batch 2/2: host[11-20]" in streamed.stderr


def test_put_uploads_once_then_reports_nothing_changed(fleet20, tmp_path):
    _fleet, inv = fleet20
    src = tmp_path / "motd"
    src.write_text("hello from hostops\n")
    dest = tmp_path / "remote" / "motd"
    dest.parent.mkdir()
    # The fleet's hosts are all this machine: one host, or they would share the file.
    first = run_hostops(
        "put",
        str(src),
        str(dest),
        "--hosts",
        str(inv),
        "-l",
        "host01",
        "--mode",
        "0640",
        "-o",
        "json",
    )
    assert first.returncode == 0, first.stderr
    assert json_results(first.stdout)["host01"]["changed"] is True
    assert dest.read_text() == "hello from hostops\n"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640
    again = run_hostops(
        "put", str(src), str(dest), "--hosts", str(inv), "-l", "host01", "-o", "json"
    )
    assert json_results(again.stdout)["host01"]["changed"] is False
    assert "1 ok, 0 changed" in again.stderr
    missing = run_hostops("put", str(tmp_path / "nope"), "/tmp/x", "--hosts", str(inv))
    assert missing.returncode == 2 and "nope: no such file or directory" in missing.stderr
    bad_mode = run_hostops("put", str(src), "/tmp/x", "--hosts", str(inv), "--mode", "rwx")
    assert bad_mode.returncode == 2 and "--mode: expected an octal mode" in bad_mode.stderr


def test_get_downloads_into_a_directory_per_host(fleet20, tmp_path):
    _fleet, inv = fleet20
    remote = tmp_path / "data.txt"
    remote.write_text("payload\n")
    out = tmp_path / "fetched"
    r = run_hostops(
        "get", str(remote), str(out), "--hosts", str(inv), "-l", "host0[1-4]", "-o", "quiet"
    )
    assert r.returncode == 0, r.stderr
    for i in range(1, 5):
        assert (out / f"host0{i}" / str(remote).lstrip("/")).read_text() == "payload\n"
    gone = run_hostops(
        "get", "/nonexistent/file", str(out), "--hosts", str(inv), "-l", "host01", "-o", "json"
    )
    assert gone.returncode == 1
    assert (
        json_results(gone.stdout)["host01"]["error"]
        == "remote /nonexistent/file: no such file or directory"
    )


def test_play_runs_the_rolling_restart_with_one_login_per_host(sshd_fleet: SshdFleet, tmp_path):
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:4])
    services = tmp_path / "svc"
    before = [h.logins() for h in sshd_fleet.hosts[:4]]
    try:
        r = run_hostops(
            "play",
            str(EXAMPLES / "rolling-restart.yaml"),
            "--hosts",
            str(inv),
            "-e",
            f"demo_dir={services}/x",
            "-o",
            "quiet",
        )
        assert r.returncode == 0, r.stderr
        after = [h.logins() for h in sshd_fleet.hosts[:4]]
        assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 1]
        assert "task 5 'health check'" in r.stderr and "hostops: 4 hosts in " in r.stderr
        assert r.stderr.index("task 1 'create the service directory'") < r.stderr.index(
            "hostops: 4 hosts in"
        )
    finally:
        pid = services / "x" / "demo-service.pid"
        if pid.exists():
            os.kill(int(pid.read_text()), 15)


def test_play_check_mode_runs_nothing_and_bad_playbooks_name_the_line(
    sshd_fleet: SshdFleet, tmp_path
):
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    before = [h.logins() for h in sshd_fleet.hosts[:2]]
    check = run_hostops("play", str(EXAMPLES / "disk-usage.yaml"), "--hosts", str(inv), "--check")
    assert check.returncode == 0, check.stderr
    assert "host01" in check.stdout and "df" in check.stdout
    assert [h.logins() for h in sshd_fleet.hosts[:2]] == before  # nothing ran
    bad = tmp_path / "bad.yaml"
    bad.write_text("- hosts: all\n  tasks:\n    - run: echo {{ nosuchvar }}\n")
    r = run_hostops("play", str(bad), "--hosts", str(inv))
    assert r.returncode == 2
    assert r.stderr.startswith(f"hostops: error: {bad}:3:") and "nosuchvar" in r.stderr
    assert len(r.stderr.splitlines()) == 1
