"""Conditions a real host creates are the host's failure in one line that names the
cause and the fix, never an "internal error" (issue 14)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from system_users import chatty_user

from hostops.host.ssh.failures import SHELL_PRINTS
from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import json_results, run_hostops, temporary_fleet


@pytest.fixture(scope="module")
def chatty_fleet() -> Iterator[SshdFleet]:
    """One sshd as many real servers run: SFTP through the login shell (an external
    sftp-server, not internal-sftp) and no ``SetEnv SHLVL=1``, so bash reads ~/.bashrc."""
    if os.geteuid() != 0:
        pytest.fail("this test creates a user: run it as root (CI does)")
    config = ("Subsystem sftp /usr/lib/openssh/sftp-server", "SetEnv HOSTOPS_FLEET=chatty")
    with temporary_fleet(1, user=chatty_user(), extra_config=config, address_base=49) as fleet:
        yield fleet


def test_a_bashrc_that_prints_names_the_cause_and_the_fix(
    chatty_fleet: SshdFleet, tmp_path: Path
) -> None:
    fleet = chatty_fleet
    host = fleet.hosts[0]
    # OpenSSH's own sftp fails on this host too: the shell's output breaks the protocol.
    sftp = subprocess.run(
        ["sftp", "-b", "-", "-i", str(fleet.client_key), "-P", str(host.port),
         "-o", f"UserKnownHostsFile={fleet.known_hosts}", "-o", "BatchMode=yes",
         f"{fleet.user}@{host.address}"],
        input="pwd\n", capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert sftp.returncode != 0 and "Received message too long" in sftp.stderr, sftp.stderr

    inv = fleet.write_inventory(tmp_path / "inv.yaml")
    local = tmp_path / "motd"
    local.write_text("hello\n")
    for args in (("put", str(local), "motd"), ("get", ".bashrc", str(tmp_path / "got"))):
        r = run_hostops(*args, "--hosts", str(inv), "-o", "json")
        assert r.returncode == 1, r.stderr
        result = json_results(r.stdout)[host.name]
        assert result["status"] == "error"
        assert result["error"] == f"cannot start SFTP: {SHELL_PRINTS}"
        assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    # A command still runs (its output starts with the banner, as with ssh).
    r = run_hostops("run", "echo hi", "--hosts", str(inv), "-o", "json")
    assert r.returncode == 0 and json_results(r.stdout)[host.name]["stdout"].endswith("hi\n")
