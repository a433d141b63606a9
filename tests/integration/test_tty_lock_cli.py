"""run -t/--tty and --lock/--lock-timeout on run, put and play through the real command
line against sshd: a sudoers ``requiretty`` user (test_pty_and_lock's) and a lock held
by one hostops making a second fail at once."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from test_pty_and_lock import tty_fleet  # noqa: F401 (the fixture)

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import hostops_argv, json_results, run_hostops, wait_for


def test_tty_satisfies_requiretty(tty_fleet: SshdFleet, tmp_path: Path) -> None:  # noqa: F811
    inv = tty_fleet.write_inventory(tmp_path / "inv.yaml", tty_fleet.hosts[:1])
    without = run_hostops("run", "--sudo", "id -un", "--hosts", str(inv), "-o", "json")
    (r,) = json_results(without.stdout).values()
    assert without.returncode == 1 and r["status"] == "failed", without.stderr
    given = run_hostops(
        "run", "--sudo", "-t", "id -un; echo to-stderr >&2", "--hosts", str(inv), "-o", "json"
    )
    (r,) = json_results(given.stdout).values()
    assert given.returncode == 0, given.stderr
    assert r["stdout"].splitlines() == ["root", "to-stderr"] and r["stderr"] == ""


def test_a_lock_makes_a_second_run_put_and_play_fail_at_once(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    common = ["--hosts", str(inv), "--lock", "cli-test", "--no-record"]
    first = subprocess.Popen(
        hostops_argv("run", f"touch {tmp_path}/started-$$; sleep 60", *common, "-o", "quiet"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert wait_for(lambda: len(list(tmp_path.glob("started-*"))) == 2, timeout=60)
        second = run_hostops("run", "echo never", *common, "-o", "json")
        assert second.returncode == 1, second.stderr
        for host, r in json_results(second.stdout).items():
            assert r["status"] == "error" and r["error"].startswith("locked by "), (host, r)
            assert f"(pid {first.pid}, since " in r["error"]
        src = tmp_path / "src.txt"
        src.write_text("x\n")
        put = run_hostops("put", str(src), f"{tmp_path}/dst.txt", *common, "-o", "json")
        assert put.returncode == 1 and not (tmp_path / "dst.txt").exists(), put.stderr
        assert all("locked by " in r["error"] for r in json_results(put.stdout).values())
        book = tmp_path / "book.yaml"
        book.write_text("- hosts: all\n  tasks:\n    - run: echo never\n")
        played = run_hostops("play", str(book), *common, "-o", "json")
        assert played.returncode == 1, played.stderr
        assert all("locked by " in r["error"] for r in json_results(played.stdout).values())
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the controller dies: its locks go with it
        first.wait(timeout=30)
    after = run_hostops("run", "echo next", *common, "--lock-timeout", "30", "-o", "json")
    assert after.returncode == 0, after.stderr
    assert {r["stdout"] for r in json_results(after.stdout).values()} == {"next\n"}
