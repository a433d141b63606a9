"""Signals and terminals through the thin client of a warm run (issue 17): Ctrl-C once
and twice, the client killed, Ctrl-Z and fg under real job control, prompts on the
caller's terminal -- each as a cold run behaves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from conftest import Accounts

from hostops.journal import PastRun, load_run
from hostops.keeper import control
from hostops.testing import LogTail, SshdFleet
from hostops.testing.pytest_plugin import (
    child_pids,
    json_results,
    process_name,
    process_state,
    run_hostops,
    run_hostops_on_tty,
    sleep_pids,
    sleep_tag,
    start_hostops,
    wait_for,
)

PERSIST = ("--persist", "5m")


def _records(home: Path) -> set[Path]:
    runs = home / ".local/state/hostops/runs"
    return set(runs.iterdir()) if runs.is_dir() else set()


def _new_record(home: Path, before: set[Path]) -> PastRun:
    (record,) = _records(home) - before
    return load_run(record)


def _keeper_tree() -> tuple[int, list[int]]:
    """The background process of this test's environment and its children."""
    answer = control.ask("status")
    assert answer is not None, "no background process"
    pid = int(answer["pid"])
    return pid, child_pids(pid)


def _runs_left() -> list[int]:
    """Processes of a command still carried out by the background process."""
    _pid, children = _keeper_tree()
    return [p for p in children if process_name(p) == "hostops-run"]


def _interrupted_once(
    inv: Path, n: int, home: Path, *warm: str
) -> tuple[int, str, dict[str, tuple[object, ...]], PastRun]:
    """Start ``sleep`` on every host, Ctrl-C the hostops command once (SIGINT to it: the
    terminal's foreground job is the client alone), and return what it ended with."""
    tag = sleep_tag(4101)
    before = _records(home)
    proc = start_hostops(
        "run", f"echo before; sleep {tag}; echo after", "--hosts", str(inv), "-o", "json", *warm
    )
    assert wait_for(lambda: len(sleep_pids(tag)) == n, timeout=60)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=90)
    assert wait_for(lambda: not sleep_pids(tag), timeout=30), "remote commands survived Ctrl-C"
    results = {n: (o["status"], o["stdout"], o["error"]) for n, o in json_results(out).items()}
    return proc.returncode, err, results, _new_record(home, before)


def test_ctrl_c_once_kills_the_remote_commands_as_in_a_cold_run(
    sshd_fleet: SshdFleet, tmp_path: Path, isolated_home: Path
) -> None:
    hosts = sshd_fleet.hosts[:3]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    cold = _interrupted_once(inv, 3, isolated_home)
    # Once to warm the connections, then interrupted through the background process.
    r = run_hostops("run", "true", "--hosts", str(inv), *PERSIST)
    assert r.returncode == 0, r.stderr
    logins = [LogTail(h.log) for h in hosts]
    warm = _interrupted_once(inv, 3, isolated_home, *PERSIST)
    assert sum(t.logins() for t in logins) == 0, "the warm run was not warm"
    code, err, results, record = warm
    assert code == 130 == cold[0], err
    assert results == cold[2]
    assert set(results.values()) == {("interrupted", "before\n", results["host01"][2])}
    warning = (
        "hostops: warning: interrupted: stopping 3 running host(s): host[01-03];"
        " Ctrl-C again stops at once\n"
    )
    assert warning in cold[1] and warning in err, err
    assert record.complete and cold[3].complete
    assert [r.status.value for r in record.results] == ["interrupted"] * 3
    assert record.end is not None and record.end["exit_code"] == 130
    assert [r.status.value for r in cold[3].results] == [r.status.value for r in record.results]
    assert wait_for(lambda: not _runs_left(), timeout=30)
    # The connections survive the interrupted run for the next command.
    r = run_hostops("run", "echo again", "--hosts", str(inv), "-o", "json", *PERSIST)
    assert r.returncode == 0, r.stderr
    assert {(o["stdout"], o["reused"]) for o in json_results(r.stdout).values()} == {
        ("again\n", True)
    }


def test_ctrl_c_twice_stops_at_once_exit_130(
    sshd_fleet: SshdFleet, tmp_path: Path, isolated_home: Path
) -> None:
    hosts = sshd_fleet.hosts[:3]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    tag = sleep_tag(4102)
    stderr = tmp_path / "stderr"
    before = _records(isolated_home)
    with open(stderr, "w") as errors:  # read while it runs
        # The command ignores TERM: the first Ctrl-C's orderly stop would take its grace time.
        proc = start_hostops(
            "run",
            f"trap '' TERM; echo before; sleep {tag}",
            "--hosts",
            str(inv),
            "-o",
            "json",
            *PERSIST,
            stderr=errors,
        )
    assert wait_for(lambda: len(sleep_pids(tag)) == len(hosts), timeout=60)
    proc.send_signal(signal.SIGINT)
    assert wait_for(lambda: "Ctrl-C again stops at once" in stderr.read_text(), timeout=60)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    err = stderr.read_text()
    assert proc.returncode == 130, err
    res = json_results(out)
    assert {o["status"] for o in res.values()} == {"interrupted"}
    assert {o["error"] for o in res.values()} == {"interrupted: stopped at once: killed"}, err
    assert wait_for(lambda: not sleep_pids(tag), timeout=30), "remote commands left running"
    past = _new_record(isolated_home, before)
    assert past.complete and past.end is not None and past.end["exit_code"] == 130


def test_a_killed_client_stops_its_run_and_the_next_command_works(
    sshd_fleet: SshdFleet, tmp_path: Path, isolated_home: Path
) -> None:
    """SIGKILL of the thin client mid-run: the background process survives it, kills the
    run's remote commands as a first Ctrl-C would and completes the run record."""
    hosts = sshd_fleet.hosts[:3]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    tag = sleep_tag(4103)
    before = _records(isolated_home)
    proc = start_hostops(
        "run", f"echo before; sleep {tag}", "--hosts", str(inv), "-o", "json", *PERSIST
    )
    assert wait_for(lambda: len(sleep_pids(tag)) == len(hosts), timeout=60)
    keeper, _children = _keeper_tree()
    proc.kill()
    proc.communicate(timeout=30)
    assert wait_for(lambda: not sleep_pids(tag), timeout=60), "remote commands left running"
    assert wait_for(lambda: not _runs_left(), timeout=60), "the run never ended"
    past = _new_record(isolated_home, before)
    assert past.complete, "the run record was left incomplete"
    assert [r.status.value for r in past.results] == ["interrupted"] * 3
    assert past.end is not None and past.end["exit_code"] == 130
    r = run_hostops("run", "echo next", "--hosts", str(inv), "-o", "json", *PERSIST)
    assert r.returncode == 0, r.stderr
    assert {o["stdout"] for o in json_results(r.stdout).values()} == {"next\n"}
    assert _keeper_tree()[0] == keeper  # the same background process served it


# A shell's job control, reduced: hostops runs as the foreground job of a terminal (the
# pty given), in a process group of its own. When it stops, this says "stopped" and
# waits for a line on stdin ("fg"), then continues it in the foreground; at the end it
# says "exit CODE". hostops's stdin is the terminal, its stdout and stderr go to the
# files named.
_SHELL = r"""
import os, signal, sys
tty, out, err = sys.argv[1:4]
fd = os.open(tty, os.O_RDWR)  # a new session's first terminal: its controlling terminal
signal.signal(signal.SIGTTOU, signal.SIG_IGN)
pid = os.fork()
if pid == 0:
    os.setpgid(0, 0)
    os.tcsetpgrp(fd, os.getpgrp())
    signal.signal(signal.SIGTTOU, signal.SIG_DFL)
    os.dup2(fd, 0)  # the terminal, as for a job typed at a shell (not our stdin)
    os.dup2(os.open(out, os.O_WRONLY), 1)
    os.dup2(os.open(err, os.O_WRONLY), 2)
    os.execv(sys.executable, [sys.executable, "-m", "hostops", *sys.argv[4:]])
os.setpgid(pid, pid)
os.tcsetpgrp(fd, pid)
while True:
    _, status = os.waitpid(pid, os.WUNTRACED)
    if not os.WIFSTOPPED(status):
        break
    os.tcsetpgrp(fd, os.getpgrp())
    print("stopped", flush=True)
    sys.stdin.readline()
    os.tcsetpgrp(fd, pid)
    os.killpg(pid, signal.SIGCONT)
print("exit", os.waitstatus_to_exitcode(status), flush=True)
"""


def test_ctrl_z_then_fg_stops_the_run_and_it_completes(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    hosts = sshd_fleet.hosts[:3]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    r = run_hostops("run", "true", "--hosts", str(inv), *PERSIST)  # warm
    assert r.returncode == 0, r.stderr
    tag = sleep_tag(3)
    out, err = tmp_path / "out", tmp_path / "err"
    out.touch()
    err.touch()
    master, slave = os.openpty()
    args = ["run", f"sleep {tag}; echo done", "--hosts", str(inv), "-o", "json", *PERSIST]
    shell = subprocess.Popen(
        [sys.executable, "-c", _SHELL, os.ttyname(slave), str(out), str(err), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    screen: list[bytes] = []
    drain = threading.Thread(target=_drain, args=(master, screen), daemon=True)
    drain.start()
    try:
        assert wait_for(lambda: len(sleep_pids(tag)) == len(hosts), timeout=60)
        (run,) = _runs_left()
        os.write(master, b"\x1a")  # Ctrl-Z typed on the terminal
        assert shell.stdout is not None and shell.stdin is not None
        assert shell.stdout.readline() == "stopped\n"
        # The run's own processes stop with the client (the remote commands go on).
        assert wait_for(lambda: process_state(run) == "T", timeout=30), process_state(run)
        aggregators = [p for p in child_pids(run) if process_name(p) == "hostops-aggr"]
        assert aggregators and all(process_state(p) == "T" for p in aggregators)
        shell.stdin.write("fg\n")
        shell.stdin.flush()
        assert wait_for(lambda: process_state(run) not in ("T", "t"), timeout=30)
        assert shell.stdout.readline() == "exit 0\n", err.read_text()
        shell.wait(timeout=60)
    finally:
        if shell.poll() is None:
            shell.kill()
        os.close(slave)
        os.close(master)
    res = json_results(out.read_text())
    assert {(o["status"], o["stdout"], o["reused"]) for o in res.values()} == {
        ("ok", "done\n", True)
    }
    assert b"{" not in b"".join(screen)  # nothing of the output went to the terminal


def _drain(fd: int, into: list[bytes]) -> None:
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            return
        if not data:
            return
        into.append(data)


def test_ask_pass_prompts_on_the_callers_terminal(
    password_fleet: SshdFleet, tmp_path: Path, accounts: Accounts
) -> None:
    host = password_fleet.hosts[0]
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        f"defaults:\n  known_hosts: {password_fleet.known_hosts}\n"
        f"hosts:\n  pw:\n    address: {host.address}\n    port: {host.port}\n"
        f"    user: {accounts.password_user}\n"
    )
    tail = LogTail(host.log)
    r, screen = run_hostops_on_tty(
        "run", "id -un", "--hosts", str(inv), "--ask-pass", *PERSIST, answers=[accounts.secret]
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(f"| {accounts.password_user}") == 1, r.stdout
    assert screen.count(b"hostops: ") == 1 and b"password" in screen, screen
    assert accounts.secret.encode() not in screen  # not echoed
    assert "Accepted password for" in tail.new()
    _keeper_tree()  # it really ran through the background process
    # The next warm run uses the kept connection: no prompt is needed without --ask-pass.
    r = run_hostops("run", "id -un", "--hosts", str(inv), "-o", "json", *PERSIST)
    assert r.returncode == 0, r.stderr
    assert json_results(r.stdout)["pw"]["reused"] is True
    assert tail.new().count("Accepted password for") == 1
