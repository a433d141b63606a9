"""--sudo against the real sudo of this machine: password and NOPASSWD rules, wrong
passwords, the prompt kept out of the output, and --timeout stopping root commands."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

from conftest import Accounts

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import (
    SleepWatch,
    json_results,
    run_hostops,
    run_hostops_on_tty,
    sleep_tag,
)


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


def test_sudo_with_a_password_rule(
    sshd_fleet: SshdFleet, tmp_path: Path, accounts: Accounts
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:3])
    r = run_hostops(
        "run",
        "id -un; cat; echo end",  # cat: the command's stdin is empty, the password not in it
        "--hosts",
        str(inv),
        "--user",
        accounts.password_user,
        "--sudo",
        "-o",
        "json",
        env=_env(HOSTOPS_SUDO_PASSWORD=accounts.secret),
    )
    assert r.returncode == 0, r.stderr
    for obj in json_results(r.stdout).values():
        assert obj["status"] == "ok"
        assert obj["stdout"] == "root\nend\n"
        assert obj["stderr"] == ""  # sudo's prompt never shows


def test_sudo_user_and_a_nopasswd_rule(
    sshd_fleet: SshdFleet, tmp_path: Path, accounts: Accounts
) -> None:
    """NOPASSWD: sudo never prompts, so the password given is never sent (cat shows nothing)."""
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    r = run_hostops(
        "run",
        "id -un; cat",
        "--hosts",
        str(inv),
        "--user",
        accounts.nopasswd_user,
        "--sudo-user",
        accounts.password_user,
        "-o",
        "json",
        env=_env(HOSTOPS_SUDO_PASSWORD=accounts.secret),
    )
    assert r.returncode == 0, r.stderr
    for obj in json_results(r.stdout).values():
        assert (obj["status"], obj["stdout"], obj["stderr"]) == (
            "ok",
            f"{accounts.password_user}\n",
            "",
        )
    r = run_hostops("run", "id -u", "--hosts", str(inv), "--user", accounts.nopasswd_user, "--sudo")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("| 0") == 2


def test_wrong_sudo_password_fails_the_host_quickly(
    sshd_fleet: SshdFleet, tmp_path: Path, accounts: Accounts
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    started = time.monotonic()
    r = run_hostops(
        "run",
        "echo ran",
        "--hosts",
        str(inv),
        "--user",
        accounts.password_user,
        "--sudo",
        "-o",
        "json",
        env=_env(HOSTOPS_SUDO_PASSWORD="not the password"),
    )
    assert time.monotonic() - started < 60
    assert r.returncode == 1, r.stderr
    for obj in json_results(r.stdout).values():
        assert obj["status"] == "failed"
        assert (
            obj["error"] == "sudo: wrong password (from --ask-sudo-pass or HOSTOPS_SUDO_PASSWORD)"
        )
        assert obj["stdout"] == ""  # the command never ran
    r = run_hostops(
        "run", "echo ran", "--hosts", str(inv), "--user", accounts.password_user, "--sudo"
    )
    assert r.returncode == 1
    assert "sudo asked for a password: give it with --ask-sudo-pass" in r.stderr


def test_ask_sudo_pass_prompts_once_on_the_terminal(
    sshd_fleet: SshdFleet, tmp_path: Path, accounts: Accounts
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:4])
    r, screen = run_hostops_on_tty(
        "run",
        "id -un",
        "--hosts",
        str(inv),
        "--user",
        accounts.password_user,
        "--ask-sudo-pass",
        answers=[accounts.secret],
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("| root") == 4
    assert screen.count(b"hostops: sudo password: ") == 1
    assert accounts.secret.encode() not in screen  # not echoed


def test_timeout_with_sudo_stops_the_root_command_and_its_children(
    sshd_fleet: SshdFleet, tmp_path: Path, accounts: Accounts
) -> None:
    hosts = sshd_fleet.hosts[:3]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    child, main = sleep_tag(3011), sleep_tag(3012)
    with SleepWatch([child, main], 2 * len(hosts)) as watch:
        r = run_hostops(
            "run",
            f"sleep {child} & sleep {main}",
            "--hosts",
            str(inv),
            "--user",
            accounts.password_user,
            "--sudo",
            "--timeout",
            "3",
            "-o",
            "json",
            env=_env(HOSTOPS_SUDO_PASSWORD=accounts.secret),
        )
    assert r.returncode == 1, r.stderr
    assert len(watch.seen) == 2 * len(hosts), "the remote sleeps never all ran"
    owners = {Path(f"/proc/{p}").stat().st_uid for p in watch.seen if Path(f"/proc/{p}").exists()}
    assert owners <= {0}  # they ran as root: the login user alone could not have killed them
    for obj in json_results(r.stdout).values():
        assert obj["status"] == "timeout" and obj["signal"] in ("TERM", "KILL"), obj
    gone = watch.gone()
    assert gone, "root processes survived the timeout"


def test_put_with_sudo_installs_files_as_root_where_the_user_cannot_write(
    sshd_fleet: SshdFleet, tmp_path: Path, accounts: Accounts
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:1])
    src = tmp_path / "app.conf"
    src.write_text("listen 8080\n")
    src.chmod(0o644)
    target = Path(f"/root/hostops-test-{secrets.token_hex(4)}") / "app.conf"  # root only
    target.parent.mkdir(mode=0o700)

    def put(*options: str) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
        r = run_hostops(
            "put",
            str(src),
            str(target),
            "--hosts",
            str(inv),
            "--user",
            accounts.password_user,
            "-o",
            "json",
            *options,
            env=_env(HOSTOPS_SUDO_PASSWORD=accounts.secret),
        )
        return r, json_results(r.stdout)["host01"]

    try:
        plain, result = put()
        assert plain.returncode == 1  # as the login user: refused, and said so
        assert "permission denied" in str(result["error"])
        r, result = put("--sudo", "--mode", "0600")
        assert r.returncode == 0, r.stderr
        assert result["changed"] is True
        assert target.read_text() == "listen 8080\n"
        st = target.stat()
        assert (st.st_uid, oct(st.st_mode & 0o7777)) == (0, "0o600")
        again, result = put("--sudo", "--mode", "0600")
        assert result["changed"] is False, again.stderr
    finally:
        if target.parent.exists():
            for f in target.parent.iterdir():
                f.unlink()
            target.parent.rmdir()
