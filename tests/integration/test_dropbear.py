"""hostops against dropbear (routers, OpenWrt, embedded boards), tried as a new user
would: commands and exit codes, --timeout and --idle-timeout (the remote command really
stops: dropbear does not give a session a process group of its own), Ctrl-C once and
twice, sudo, stdin, put/get (dropbear's external sftp-server) and a dropbear jump host.
The same behaviours against OpenSSH are in test_run, test_timeout, test_faults,
test_lifecycle, test_sudo, test_sftp and test_jump."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from system_users import ensure_user

from hostops.testing import SshdFleet
from hostops.testing.dropbear import DropbearFleet
from hostops.testing.fleet import free_port
from hostops.testing.pytest_plugin import (
    SleepWatch,
    json_results,
    run_hostops,
    sleep_tag,
    start_hostops,
    wait_for,
)

USER = "hostops-db"  # dropbear reads ~USER/.ssh/authorized_keys: a user of our own
_SUDOERS = "/etc/sudoers.d/hostops-dropbear"


@pytest.fixture(scope="module")
def dropbear() -> Iterator[DropbearFleet]:
    """Two dropbear daemons; USER may sudo without a password."""
    if os.geteuid() != 0:
        pytest.fail("these tests create a user and a sudoers rule: run them as root (CI does)")
    ensure_user(USER)
    staged = Path(f"{_SUDOERS}.new")
    staged.write_text(f"{USER} ALL=(ALL:ALL) NOPASSWD: ALL\n")
    staged.chmod(0o440)
    subprocess.run(["visudo", "-c", "-q", "-f", str(staged)], check=True)
    staged.rename(_SUDOERS)
    root = tempfile.mkdtemp(prefix="hostops-dropbear-")
    try:
        with DropbearFleet(root, 2, user=USER, address_base=53) as fleet:
            yield fleet
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _inv(fleet: DropbearFleet, tmp_path: Path) -> Path:
    return fleet.write_inventory(tmp_path / "inv.yaml")


def test_commands_exit_codes_and_stdin(dropbear: DropbearFleet, tmp_path: Path) -> None:
    inv = _inv(dropbear, tmp_path)
    r = run_hostops("run", "echo $USER; exit 3", "--hosts", str(inv), "-o", "json")
    res = json_results(r.stdout)
    assert {(o["status"], o["exit_code"], o["stdout"]) for o in res.values()} == {
        ("failed", 3, f"{USER}\n")
    }, r.stderr
    r = run_hostops("run", "wc -c", "--hosts", str(inv), "-o", "json", input="x" * 100_000)
    assert {o["stdout"].strip() for o in json_results(r.stdout).values()} == {"100000"}


def test_timeout_and_idle_timeout_stop_the_remote_command(
    dropbear: DropbearFleet, tmp_path: Path
) -> None:
    inv = _inv(dropbear, tmp_path)
    for option in ("--timeout", "--idle-timeout"):
        tag = sleep_tag(30)  # outlives every wait below unless killed
        with SleepWatch([tag], expected=2) as watch:
            r = run_hostops("run", f"sleep {tag}", "--hosts", str(inv), option, "2", "-o", "json")
        res = json_results(r.stdout)
        assert {o["status"] for o in res.values()} == {"timeout"}, r.stderr
        assert all("did not end" not in str(o["error"]) for o in res.values()), res
        assert len(watch.seen) == 2 and watch.gone(), f"{option}: the remote sleep lives on"


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_once_and_twice(dropbear: DropbearFleet, tmp_path: Path, presses: int) -> None:
    inv = _inv(dropbear, tmp_path)
    tag = sleep_tag(30)  # outlives every wait below unless killed
    proc = start_hostops(
        "run", f"sleep {tag}", "--hosts", str(inv), "-o", "json", start_new_session=True
    )
    with SleepWatch([tag], expected=2) as watch:
        pass
    assert len(watch.seen) == 2, "the commands never started"
    for _ in range(presses):
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert {o["status"] for o in json_results(out).values()} == {"interrupted"}
    if presses == 1:  # the second press stops at once, without waiting for the kills
        assert watch.gone()


def test_sudo(dropbear: DropbearFleet, tmp_path: Path) -> None:
    inv = _inv(dropbear, tmp_path)
    r = run_hostops("run", "id -un", "--hosts", str(inv), "--sudo", "-o", "json")
    assert {o["stdout"] for o in json_results(r.stdout).values()} == {"root\n"}, r.stderr
    tag = sleep_tag(30)  # outlives every wait below unless killed
    with SleepWatch([tag], expected=2) as watch:
        r = run_hostops(
            "run", f"sleep {tag}", "--hosts", str(inv), "--sudo", "--timeout", "2", "-o", "json"
        )
    assert {o["status"] for o in json_results(r.stdout).values()} == {"timeout"}, r.stderr
    assert len(watch.seen) == 2 and watch.gone(), "the sleep run with sudo lives on"


def test_put_and_get_through_sftp_server(dropbear: DropbearFleet, tmp_path: Path) -> None:
    inv = _inv(dropbear, tmp_path)
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f").write_text("content\n")
    home = Path(pwd.getpwnam(USER).pw_dir)
    r = run_hostops("put", str(src), "hostops-put", "--hosts", str(inv), "-o", "json")
    assert {o["status"] for o in json_results(r.stdout).values()} == {"ok"}, r.stderr
    assert (home / "hostops-put" / "sub" / "f").read_text() == "content\n"
    out = tmp_path / "out"
    r = run_hostops("get", "hostops-put/sub/f", str(out), "--hosts", str(inv), "-o", "json")
    assert {o["status"] for o in json_results(r.stdout).values()} == {"ok"}, r.stderr
    for h in dropbear.hosts:
        assert (out / h.name / "hostops-put" / "sub" / "f").read_text() == "content\n"


def test_a_dropbear_jump_host(
    dropbear: DropbearFleet, sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    """OpenSSH targets reached through a dropbear bastion (and the key of each known)."""
    kh = tmp_path / "known_hosts"
    kh.write_text(sshd_fleet.known_hosts.read_text() + dropbear.known_hosts.read_text())
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2], known_hosts=kh)
    bastion = dropbear.hosts[0]
    # The bastion authorizes the OpenSSH fleet's key (its user's authorized_keys).
    keys = Path(pwd.getpwnam(USER).pw_dir) / ".ssh" / "authorized_keys"
    fleet_key = Path(f"{sshd_fleet.client_key}.pub").read_text()
    if fleet_key not in keys.read_text():
        with open(keys, "a") as f:
            f.write(fleet_key)
    jump = f"{USER}@{bastion.address}:{bastion.port}"
    logins = bastion.log.read_text().count("auth succeeded")
    r = run_hostops(
        "run", "echo hi", "--hosts", str(inv), "--jump", jump, "--workers", "1", "-o", "json"
    )
    res = json_results(r.stdout)
    assert {o["status"] for o in res.values()} == {"ok"}, r.stderr
    # One login to the bastion (per worker), through which both targets were reached.
    assert bastion.log.read_text().count("auth succeeded") == logins + 1
    closed = f"{USER}@{bastion.address}:{free_port(bastion.address)}"  # no bastion: no way
    r = run_hostops("run", "true", "--hosts", str(inv), "--jump", closed, "-o", "json")
    assert {o["status"] for o in json_results(r.stdout).values()} == {"unreachable"}


def test_warm_commands_through_the_runner_run_as_cold_ones(
    dropbear: DropbearFleet, tmp_path: Path
) -> None:
    """dropbear's sessions share its process group: the runner makes each command the
    leader of its own, as the exec channel's wrapper does."""
    inv = _inv(dropbear, tmp_path)
    command = "echo $USER; ps -o pgid= -p $$; echo $$; echo err >&2; exit 3"
    warm = ("--persist", "5m")

    def outcome(*extra: str) -> set[tuple[object, ...]]:
        r = run_hostops("run", command, "--hosts", str(inv), "-o", "json", *extra)
        res = json_results(r.stdout).values()
        return {(o["status"], o["exit_code"], o["stderr"], _leads(o["stdout"])) for o in res}

    def runners() -> set[object]:
        shown = run_hostops("persist", "--json").stdout.splitlines()
        return {json.loads(line)["runner"] for line in shown}

    cold = outcome()
    assert cold == {("failed", 3, "err\n", True)}
    assert outcome(*warm) == cold  # connects, parks, starts the runners
    assert wait_for(lambda: runners() == {"ready"})
    assert outcome(*warm) == cold
    r = run_hostops("run", "sleep 30", "--hosts", str(inv), "-o", "json", "--timeout", "1", *warm)
    assert {o["status"] for o in json_results(r.stdout).values()} == {"timeout"}
    assert runners() == {"ready"}  # killed through the runner, which waited for its end


def _leads(stdout: str) -> bool:
    """The user and a process group led by the shell itself."""
    user, pgid, pid = stdout.split()
    return user == USER and pgid == pid
