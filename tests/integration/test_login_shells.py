"""Login shells that are not POSIX (tcsh, root's shell on older FreeBSD; fish): the
command runs in them as `ssh host COMMAND` would, and --timeout and Ctrl-C still stop
it with its children. tcsh echoes its pid as sh does; fish reports it through a
/bin/sh (see hostops.host.ssh.command._reported), and none of it shows."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from system_users import ensure_user

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import (
    SleepWatch,
    json_results,
    run_hostops,
    sleep_pids,
    sleep_tag,
    start_hostops,
)

SHELLS = {"hostops-tcsh": "/usr/bin/tcsh", "hostops-fish": "/usr/bin/fish"}


@pytest.fixture(scope="module")
def shell_users() -> dict[str, str]:
    """Test users whose login shell is tcsh or fish (scripts/test installs them)."""
    for name, shell in SHELLS.items():
        if not Path(shell).exists():
            pytest.fail(f"{shell} is missing: ./scripts/test installs it (apt-get)")
        ensure_user(name, shell)
    return SHELLS


@pytest.mark.parametrize("user", sorted(SHELLS))
def test_commands_run_in_the_login_shell_and_time_out_whole(
    sshd_fleet: SshdFleet, tmp_path: Path, shell_users: dict[str, str], user: str
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    # The login shell's own syntax, as with ssh: `set` differs between tcsh and fish.
    cmd = "set x = 1; echo $x" if "tcsh" in user else "set x 1; echo $x"
    r = run_hostops("run", cmd, "--hosts", str(inv), "--user", user, "-o", "json")
    res = json_results(r.stdout)
    assert {o["status"] for o in res.values()} == {"ok"}, r.stderr
    assert {(o["stdout"], o["stderr"]) for o in res.values()} == {("1\n", "")}
    res = _timed_out(inv, user, "sleep {tag}; echo late")
    assert all("late" not in str(o["stdout"]) for o in res.values())


@pytest.mark.parametrize("user", sorted(SHELLS))
def test_stdin_or_its_end_reaches_the_command_and_nothing_else_is_heard(
    sshd_fleet: SshdFleet, tmp_path: Path, shell_users: dict[str, str], user: str
) -> None:
    """Without stdin the command gets end-of-file at once; with it, all of it, once."""
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    for given, expected in ((None, "done\n"), ("forwarded\n", "forwarded\ndone\n")):
        args = ["run", "cat; echo done", "--hosts", str(inv), "--user", user, "-o", "json"]
        source = {"input": given} if given else {"stdin": subprocess.DEVNULL}  # not a pipe
        r = run_hostops(*args, timeout=60, **source)
        res = json_results(r.stdout)
        assert {o["status"] for o in res.values()} == {"ok"}, r.stderr
        assert {(o["stdout"], o["stderr"]) for o in res.values()} == {(expected, "")}


@pytest.mark.parametrize("user", sorted(SHELLS))
def test_ctrl_c_stops_the_command_under_any_login_shell(
    sshd_fleet: SshdFleet, tmp_path: Path, shell_users: dict[str, str], user: str
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    tag = sleep_tag(30)  # outlives every wait below unless killed
    args = ["run", f"sleep {tag}", "--hosts", str(inv), "--user", user, "-o", "json"]
    proc = start_hostops(*args, start_new_session=True)
    with SleepWatch([tag], expected=2) as watch:
        pass
    assert len(watch.seen) == 2, "the commands never started"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert {o["status"] for o in json_results(out).values()} == {"interrupted"}
    assert watch.gone() and not sleep_pids(tag)


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
@pytest.mark.parametrize("user", sorted(SHELLS))
def test_a_background_job_of_the_login_shell_is_stopped_too(
    sshd_fleet: SshdFleet, tmp_path: Path, shell_users: dict[str, str], user: str, warm: bool
) -> None:
    """tcsh (and csh) put each background job in a process group of its own, even without
    a terminal: the kill reaches every group of the command's session, over an exec
    channel (cold) and through the runner of a kept connection (warm)."""
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    persist = ["--persist", "5m"] if warm else []
    if warm:  # the connections kept, the runner started on each: the next command uses it
        first = run_hostops("run", "true", "--hosts", str(inv), "--user", user, *persist)
        assert first.returncode == 0, first.stderr
    res = _timed_out(inv, user, "sleep {tag} & echo started", *persist)
    assert all("started" in str(o["stdout"]) for o in res.values())
    if warm:
        assert {o["reused"] for o in res.values()} == {True}


def _timed_out(inv: Path, user: str, command: str, *extra: str) -> dict[str, dict[str, object]]:
    """``command`` (``{tag}``: a sleep that outlives every wait here unless killed) on
    the inventory's two hosts as ``user`` with ``--timeout 2``: every host timed out,
    and no sleep of it is left; the JSON results by host."""
    tag = sleep_tag(30)
    with SleepWatch([tag], expected=2) as watch:
        r = run_hostops(
            "run", command.format(tag=tag), "--hosts", str(inv), "--user", user,
            "--timeout", "2", "-o", "json", *extra,
        )  # fmt: skip
    res = json_results(r.stdout)
    assert {o["status"] for o in res.values()} == {"timeout"}, r.stderr
    assert len(watch.seen) == 2 and watch.gone(), "a remote sleep outlived the timeout"
    return res
