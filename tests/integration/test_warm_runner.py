"""The runner of a kept connection (hostops.host.ssh.runner): warm commands open no exec
session (proven by the sshd logs), and give the same results as cold ones, case by case;
whatever it cannot run, or a runner that cannot start or died, falls back to exec
channels with the same results."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from old_python import OLDEST
from system_users import ensure_user

from hostops.host.ssh.runner import INTERPRETER_VAR
from hostops.testing import LogTail, SshdFleet
from hostops.testing.pytest_plugin import (
    SleepWatch,
    json_results,
    run_hostops,
    sleep_pids,
    sleep_tag,
    start_hostops,
    temporary_fleet,
    wait_for,
)

PERSIST = ("--persist", "5m")
# VERBOSE: sshd logs "Starting session: command ..." for every exec request (and,
# unlike DEBUG, writes nothing into the sessions' own stderr).
_SESSION = "Starting session: command"
_FIELDS = ("status", "exit_code", "signal", "stdout", "stderr", "error")


@pytest.fixture(scope="module")
def fleet() -> Iterator[SshdFleet]:
    config = ("LogLevel VERBOSE", "AcceptEnv HOSTOPS_*")
    with temporary_fleet(2, extra_config=config, address_base=61) as f:
        yield f


def _sessions(tails: list[LogTail]) -> int:
    return sum(t.new().count(_SESSION) for t in tails)


def _inventory(fleet: SshdFleet, path: Path, python: str | None = None) -> Path:
    text = fleet.inventory_text()
    if python is not None:
        text = text.replace("hosts:\n", f"  vars: {{{INTERPRETER_VAR}: {python}}}\nhosts:\n")
    path.write_text(text)
    return path


def _outcome(proc: subprocess.CompletedProcess[str]) -> dict[str, tuple[object, ...]]:
    return {name: tuple(r[k] for k in _FIELDS) for name, r in json_results(proc.stdout).items()}


def _run(
    inv: Path, command: str, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_hostops("run", command, "--hosts", str(inv), "-o", "json", *extra, env=env)


def _warm_up(fleet: SshdFleet, inv: Path, *extra: str, env: dict[str, str] | None = None) -> None:
    """Warm runs until the runners are ready: one that opens no exec session."""

    def through_runner() -> bool:
        tails = [LogTail(h.log) for h in fleet.hosts]
        r = _run(inv, "true", *PERSIST, *extra, env=env)
        assert r.returncode == 0, r.stderr
        return _sessions(tails) == 0

    assert wait_for(through_runner, timeout=30), "the runners never became ready"


def _cold_and_warm(
    fleet: SshdFleet, inv: Path, command: str, *extra: str
) -> tuple[dict[str, tuple[object, ...]], dict[str, tuple[object, ...]]]:
    """``command``'s results cold and through the runner (which the sshd logs prove)."""
    cold = _outcome(_run(inv, command, *extra))
    tails = [LogTail(h.log) for h in fleet.hosts]
    warm = _run(inv, command, *PERSIST, *extra)
    assert set(json_results(warm.stdout)) == {h.name for h in fleet.hosts}, warm.stderr
    assert _sessions(tails) == 0, "the warm command opened an exec session"
    assert {r["reused"] for r in json_results(warm.stdout).values()} == {True}
    return cold, _outcome(warm)


CASES = {
    "exit 0": "echo out; echo err >&2",
    "exit 3": "echo a; echo b >&2; echo c; echo d >&2; exit 3",
    "exit 255": "exit 255",
    "TERM": "echo before; kill -TERM $$",
    "KILL": "printf partial; kill -KILL $$",
    "no newline": "printf 'no newline'; printf 'err no newline' >&2",
    "2 MB": "head -c 2097152 /dev/zero | tr '\\0' x; echo end >&2",
    "background holds stdout": "(sleep 1; echo late) & echo early",
    "bash login shell": "[[ 1 == 1 ]] && echo bashism $0; echo $BASH_VERSION | cut -c1",
    "home, umask, group": "pwd; umask; ps -o pid=,pgid=,sid= -p $$ | awk '$1==$2 && $2==$3 {print \"leader\"}'",
    "stdin at end-of-file": "cat; echo read",
    "not a shell word": "echo '!x' \"\\$HOME\" %41 é",
}


def test_warm_commands_open_no_exec_session(fleet: SshdFleet, tmp_path: Path) -> None:
    inv = _inventory(fleet, tmp_path / "inv.yaml")
    _warm_up(fleet, inv)
    tails = [LogTail(h.log) for h in fleet.hosts]
    for n in range(5):
        r = _run(inv, f"echo run{n}", *PERSIST)
        assert {o["stdout"] for o in json_results(r.stdout).values()} == {f"run{n}\n"}
    assert _sessions(tails) == 0
    assert sum(t.logins() for t in tails) == 0


@pytest.mark.parametrize("case", sorted(CASES))
def test_warm_results_equal_cold_ones(fleet: SshdFleet, tmp_path: Path, case: str) -> None:
    inv = _inventory(fleet, tmp_path / "inv.yaml")
    _warm_up(fleet, inv)
    cold, warm = _cold_and_warm(fleet, inv, CASES[case])
    assert warm == cold
    # What each case is about, so that equal is not equally wrong.
    one = warm["host01"]
    checks = {
        "exit 3": one[:2] == ("failed", 3) and one[3:5] == ("a\nc\n", "b\nd\n"),
        "exit 255": one[:2] == ("failed", 255),
        "TERM": one[2:4] == ("TERM", "before\n"),
        "KILL": one[2:4] == ("KILL", "partial"),
        "2 MB": len(str(one[3])) == 2097152 and one[4] == "end\n",
        "background holds stdout": one[3] == "early\nlate\n",
        "bash login shell": str(one[3]).startswith("bashism bash\n"),
        "home, umask, group": str(one[3]).startswith(f"{Path('~' + fleet.user).expanduser()}\n")
        and str(one[3]).endswith("leader\n"),
        "stdin at end-of-file": one[3] == "read\n",
        "not a shell word": str(one[3]).endswith("%41 é\n"),
    }
    assert checks.get(case, one[0] == "ok"), one


def test_send_env_reaches_warm_commands_as_cold(fleet: SshdFleet, tmp_path: Path) -> None:
    inv = _inventory(fleet, tmp_path / "inv.yaml")
    config = tmp_path / "ssh_config"
    config.write_text("Host *\n  SendEnv HOSTOPS_*\n  SetEnv HOSTOPS_SET=from-config\n")
    env = {**os.environ, "HOSTOPS_SENT": "one"}
    extra = ("--ssh-config", str(config))
    command = "echo $HOSTOPS_SENT $HOSTOPS_SET"

    def both(value: str) -> tuple[object, ...]:
        env["HOSTOPS_SENT"] = value
        cold = _outcome(run_hostops(*_args(inv, command, *extra), env=env))
        warm = _outcome(run_hostops(*_args(inv, command, *extra, *PERSIST), env=env))
        assert warm == cold
        return warm["host01"]

    _warm_up(fleet, inv, *extra, env=env)  # its runners' sessions got HOSTOPS_SENT=one
    tails = [LogTail(h.log) for h in fleet.hosts]
    assert both("one")[3] == "one from-config\n"
    assert _sessions(tails) == 2  # the cold run's only: the warm one went through the runner
    # Another value than the runner's session has: an exec channel, sent as cold.
    tails = [LogTail(h.log) for h in fleet.hosts]
    assert both("two")[3] == "two from-config\n"
    # 4 for the two commands, then 2 for new runners, whose sessions get the new value.
    assert wait_for(lambda: _sessions(tails) == 6)
    _warm_up(fleet, inv, *extra, env=env)
    tails = [LogTail(h.log) for h in fleet.hosts]
    assert both("two")[3] == "two from-config\n"
    assert _sessions(tails) == 2


def _args(inv: Path, command: str, *extra: str) -> tuple[str, ...]:
    return ("run", command, "--hosts", str(inv), "-o", "json", *extra)


def test_timeout_kills_the_whole_group_through_the_runner(fleet: SshdFleet, tmp_path: Path) -> None:
    inv = _inventory(fleet, tmp_path / "inv.yaml")
    _warm_up(fleet, inv)
    tails = [LogTail(h.log) for h in fleet.hosts]
    tag, child = sleep_tag(300), sleep_tag(300)
    with SleepWatch([tag, child], expected=4) as watch:
        r = _run(inv, f"sleep {child} & sleep {tag}; echo after", *PERSIST, "--timeout", "2")
        assert watch.gone(), "a sleep outlived --timeout"
    assert {(o["status"], o["stdout"]) for o in json_results(r.stdout).values()} == {
        ("timeout", "")
    }
    assert _sessions(tails) == 0  # the kill was a frame to the runner, not a new session
    r = _run(inv, "echo next", *PERSIST)  # and the runner serves the next command
    assert {o["stdout"] for o in json_results(r.stdout).values()} == {"next\n"}
    assert _sessions(tails) == 0


@pytest.mark.parametrize("times", [1, 2])
def test_ctrl_c_kills_the_whole_group_through_the_runner(
    fleet: SshdFleet, tmp_path: Path, times: int
) -> None:
    inv = _inventory(fleet, tmp_path / "inv.yaml")
    _warm_up(fleet, inv)
    tails = [LogTail(h.log) for h in fleet.hosts]
    tag, child = sleep_tag(300), sleep_tag(300)
    # Twice: TERM is ignored (by the sleeps too), so only the second Ctrl-C's KILL ends it.
    trap = "trap '' TERM; " if times == 2 else ""
    proc = start_hostops(*_args(inv, f"{trap}sleep {child} & sleep {tag}; echo after", *PERSIST))
    assert wait_for(lambda: len(sleep_pids(tag)) == 2 and len(sleep_pids(child)) == 2)
    for _ in range(times):
        proc.send_signal(signal.SIGINT)
        time.sleep(1)  # not a measure: the two presses apart, as a person's
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert wait_for(lambda: not sleep_pids(tag) and not sleep_pids(child), timeout=15)
    results = json_results(out).values()
    assert {o["status"] for o in results} == {"interrupted"}
    if times == 1:
        assert _sessions(tails) == 0
    else:
        assert {o["error"] for o in results} == {"interrupted: stopped at once: killed"}
        # Stopped at once: its end was not waited for, so each runner is replaced when
        # its connection is parked (one new session each), and no exec session was used.
        assert wait_for(lambda: _sessions(tails) == 2)


def test_a_killed_client_has_its_command_killed_through_the_runner(
    fleet: SshdFleet, tmp_path: Path
) -> None:
    inv = _inventory(fleet, tmp_path / "inv.yaml")
    _warm_up(fleet, inv)
    tails = [LogTail(h.log) for h in fleet.hosts]
    tag, child = sleep_tag(300), sleep_tag(300)
    proc = start_hostops(*_args(inv, f"sleep {child} & sleep {tag}", *PERSIST))
    assert wait_for(lambda: len(sleep_pids(tag)) == 2 and len(sleep_pids(child)) == 2)
    proc.kill()
    proc.communicate(timeout=30)
    assert wait_for(lambda: not sleep_pids(tag) and not sleep_pids(child), timeout=30)
    r = _run(inv, "echo next", *PERSIST)
    assert {(o["stdout"], o["reused"]) for o in json_results(r.stdout).values()} == {
        ("next\n", True)
    }
    assert _sessions(tails) == 0  # the kills and the next command: all through the runners


def test_a_runner_that_cannot_start_leaves_exec_channels(fleet: SshdFleet, tmp_path: Path) -> None:
    inv = _inventory(fleet, tmp_path / "inv.yaml", python="/nonexistent/python3")
    first = _run(inv, "echo one", *PERSIST)
    assert first.returncode == 0, first.stderr

    def runners() -> set[object]:
        shown = run_hostops("persist", "--json").stdout.splitlines()
        return {json.loads(line)["runner"] for line in shown}

    # hostops persist says why: the shell's own words.
    assert wait_for(lambda: "starting" not in runners())  # on every host: each its own
    states = runners()
    assert len(states) == 1, states
    (state,) = states
    assert str(state).startswith("unavailable: ") and "/nonexistent/python3" in str(state)
    for n in range(3):
        tails = [LogTail(h.log) for h in fleet.hosts]
        cold, warm = _outcome(_run(inv, f"echo {n}")), _run(inv, f"echo {n}", *PERSIST)
        assert _outcome(warm) == cold and cold["host01"][3] == f"{n}\n"
        assert {r["reused"] for r in json_results(warm.stdout).values()} == {True}
        assert _sessions(tails) == 4  # cold and warm: one exec session each, per host
        assert sum(t.logins() for t in tails) == 2  # the cold run's only


def test_a_runner_killed_between_runs_is_replaced(fleet: SshdFleet, tmp_path: Path) -> None:
    # The interpreter by a path of this test's own: its runners are found by it.
    python = tmp_path / "python3-runner-test"
    python.symlink_to(os.path.realpath(sys.executable))
    inv = _inventory(fleet, tmp_path / "inv.yaml", python=str(python))
    _warm_up(fleet, inv)
    runners = _pids(str(python))
    assert len(runners) == 2
    for pid in runners:
        os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not _pids(str(python)))
    tails = [LogTail(h.log) for h in fleet.hosts]
    r = _run(inv, "echo after", *PERSIST)
    assert r.returncode == 0, r.stderr
    assert {(o["stdout"], o["reused"]) for o in json_results(r.stdout).values()} == {
        ("after\n", True)
    }
    assert _sessions(tails) >= 2  # an exec channel each (and the new runners' sessions)
    assert sum(t.logins() for t in tails) == 0
    _warm_up(fleet, inv)  # a new runner was started when the connection was parked again
    assert len(_pids(str(python))) == 2


def _pids(pattern: str) -> list[int]:
    r = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, check=False)
    return [int(p) for p in r.stdout.split()]


@pytest.mark.parametrize("flag", ["--sudo", "--tty"])
def test_sudo_and_tty_on_a_warm_connection_take_an_exec_channel(
    fleet: SshdFleet, tmp_path: Path, flag: str
) -> None:
    inv = _inventory(fleet, tmp_path / "inv.yaml")
    _warm_up(fleet, inv)
    command = "id -u; tty >/dev/null && echo terminal || echo no terminal"
    cold = _outcome(_run(inv, command, flag))
    tails = [LogTail(h.log) for h in fleet.hosts]
    warm = _run(inv, command, flag, *PERSIST)
    assert _outcome(warm) == cold
    assert cold["host01"][3] in ("0\nno terminal\n", "0\r\nterminal\r\n", "0\nterminal\n")
    assert _sessions(tails) == 2  # one exec session per host
    tails = [LogTail(h.log) for h in fleet.hosts]
    r = _run(inv, "echo plain", *PERSIST)  # the runner is still there for plain commands
    assert {o["stdout"] for o in json_results(r.stdout).values()} == {"plain\n"}
    assert _sessions(tails) == 0


def test_the_runner_runs_on_python_3_6(fleet: SshdFleet, tmp_path: Path) -> None:
    inv = _inventory(fleet, tmp_path / "inv.yaml", python=OLDEST)
    _warm_up(fleet, inv)
    cold, warm = _cold_and_warm(fleet, inv, CASES["exit 3"])
    assert warm == cold


@pytest.mark.parametrize(
    ("user", "shell", "command"),
    [
        ("hostops-tcsh", "/usr/bin/tcsh", "set x = 1; echo $x; echo err >>& /dev/stderr; exit 3"),
        ("hostops-fish", "/usr/bin/fish", "set x 1; echo $x; echo err >&2; exit 3"),
    ],
)
def test_login_shells_that_are_not_posix_start_the_runner_and_run_alike(
    fleet: SshdFleet, tmp_path: Path, user: str, shell: str, command: str
) -> None:
    if not Path(shell).exists():
        pytest.fail(f"{shell} is missing: ./scripts/test installs it (apt-get)")
    ensure_user(user, shell)
    inv = _inventory(fleet, tmp_path / "inv.yaml")
    _warm_up(fleet, inv, "--user", user)
    cold, warm = _cold_and_warm(fleet, inv, command, "--user", user)
    assert warm == cold
    assert warm["host01"][:5] == ("failed", 3, None, "1\n", "err\n")
