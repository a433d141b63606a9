"""run --check (a pre-flight: connect, host key, log in, sudo; the command never runs)
and put --check (the files that would be written; nothing written), through the real
command line against the sshd fleet."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import Accounts

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import json_results, run_hostops


def test_run_check_reports_what_a_real_run_would_hit(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    wrong_key = tmp_path / "wrong"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong_key)], check=True
    )
    good, bad = sshd_fleet.hosts[:2]
    text = sshd_fleet.inventory_text([good, bad], extra={"gone": (good.address, 1)})
    text = text.replace(
        f"  {bad.name}:\n", f"  {bad.name}:\n    identity_file: {wrong_key}\n"
    )  # this host only: a key the host does not accept
    inv = tmp_path / "inv.yaml"
    inv.write_text(text)
    marker = tmp_path / "ran"
    r = run_hostops("run", "--check", f"touch {marker}", "--hosts", str(inv), "-o", "json")
    assert r.returncode == 3, r.stderr  # some host unreachable (README: exit codes)
    res = json_results(r.stdout)
    assert res[good.name]["status"] == "ok"
    assert res[bad.name]["status"] == "auth_failed"
    assert res["gone"]["status"] == "unreachable"
    assert not marker.exists()  # the command never ran
    # The same hosts for real: the check said what the run hits.
    real = run_hostops("run", f"touch {marker}", "--hosts", str(inv), "-o", "json")
    assert real.returncode == r.returncode
    ran = json_results(real.stdout)
    assert {h: o["status"] for h, o in ran.items()} == {h: o["status"] for h, o in res.items()}
    assert marker.exists()


def test_put_check_lists_the_files_that_would_be_written(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    src = tmp_path / "src"
    src.mkdir()
    (src / "same.txt").write_text("same\n")
    (src / "new.txt").write_text("new\n")
    dest = tmp_path / "dest"
    for host in sshd_fleet.hosts[:2]:
        (dest / host.name).mkdir(parents=True)
        (dest / host.name / "same.txt").write_text("same\n")
    os.chmod(tmp_path, 0o755)
    target = f"{dest}/{{}}"
    for host in sshd_fleet.hosts[:2]:
        r = run_hostops(
            "put", "--check", str(src), target.format(host.name), "--hosts", str(inv),
            "-l", host.name, "-o", "json", "--no-record",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        (res,) = json_results(r.stdout).values()
        assert res["changed"] is True
        assert res["stdout"] == f"would write {dest}/{host.name}/new.txt\n"
        assert not (dest / host.name / "new.txt").exists()  # nothing written
    # Everything in place: nothing would be written, nothing listed.
    r = run_hostops(
        "put", str(src), target.format("host01"), "--hosts", str(inv), "-l", "host01", "--no-record"
    )
    assert r.returncode == 0, r.stderr
    r = run_hostops(
        "put", "--check", str(src), target.format("host01"), "--hosts", str(inv), "-l", "host01",
        "-o", "json", "--no-record",
    )  # fmt: skip
    (res,) = json_results(r.stdout).values()
    assert res["changed"] is False and res["stdout"] == ""


def test_run_check_with_sudo_tries_the_password(
    sshd_fleet: SshdFleet, tmp_path: Path, accounts: Accounts
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    marker = tmp_path / "ran"
    os.chmod(tmp_path, 0o777)
    argv = ["run", "--check", "--sudo", f"touch {marker}", "--hosts", str(inv)]
    argv += ["--user", accounts.password_user, "-o", "json", "--no-record"]
    wrong = run_hostops(*argv, env={**os.environ, "HOSTOPS_SUDO_PASSWORD": "not the password"})
    assert wrong.returncode == 1, wrong.stderr
    for obj in json_results(wrong.stdout).values():
        assert obj["status"] == "failed" and obj["error"].startswith("sudo: wrong password"), obj
    right = run_hostops(*argv, env={**os.environ, "HOSTOPS_SUDO_PASSWORD": accounts.secret})
    assert right.returncode == 0, right.stderr
    assert {o["status"] for o in json_results(right.stdout).values()} == {"ok"}
    none = run_hostops(
        *argv, env={k: v for k, v in os.environ.items() if k != "HOSTOPS_SUDO_PASSWORD"}
    )
    assert none.returncode == 1, none.stderr  # sudo wants a password: a real run would fail
    assert not marker.exists()
