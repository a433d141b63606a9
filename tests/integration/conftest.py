"""Shared helpers for the integration tests (real sshd fleet, real CLI in a subprocess)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from system_users import ensure_user

from hostops.testing import SshdFleet
from hostops.testing.dask_cluster import DaskCluster
from hostops.testing.pytest_plugin import temporary_fleet

pytestmark = pytest.mark.integration

PASSWORD_USER = "hostops-pw"  # has a password; sudo asks for it
NOPASSWD_USER = "hostops-nopw"  # no password; sudo does not ask
_SUDOERS = "/etc/sudoers.d/hostops-tests"


@pytest.fixture
def fleet20(sshd_fleet: SshdFleet, tmp_path: Path) -> tuple[SshdFleet, Path]:
    """The first 20 fleet hosts as an inventory file (known_hosts and key from the fleet)."""
    inv = sshd_fleet.write_inventory(tmp_path / "inv20.yaml", sshd_fleet.hosts[:20])
    return sshd_fleet, inv


@dataclass(frozen=True)
class Accounts:
    """Test users on this machine. ``secret`` is the password of PASSWORD_USER (for SSH
    and for sudo): new for every test session, with spaces, quotes and ``$`` in it, so
    that a leak of it can be searched for without false matches."""

    password_user: str
    nopasswd_user: str
    secret: str


@pytest.fixture(scope="session")
def accounts() -> Accounts:
    """Create (or update) the test users and their sudoers rules. Needs root, as CI has:
    without it the tests fail (never skip). root never gets a password."""
    if os.geteuid() != 0:
        pytest.fail("these tests create users and sudoers rules: run them as root (CI does)")
    for tool in ("useradd", "chpasswd", "sudo", "visudo"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing: ./scripts/test installs it (apt-get)")
    secret = f"s3 cr'et\"{secrets.token_hex(6)} $HOME `x` $(id)"
    for name in (PASSWORD_USER, NOPASSWD_USER):
        ensure_user(name)
    subprocess.run(
        ["chpasswd"], input=f"{PASSWORD_USER}:{secret}\n".encode(), check=True, capture_output=True
    )
    rules = f"{PASSWORD_USER} ALL=(ALL:ALL) ALL\n{NOPASSWD_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n"
    staged = Path(f"{_SUDOERS}.new")
    staged.write_text(rules)
    staged.chmod(0o440)
    subprocess.run(["visudo", "-c", "-q", "-f", str(staged)], check=True)
    staged.rename(_SUDOERS)
    return Accounts(PASSWORD_USER, NOPASSWD_USER, secret)


@pytest.fixture(scope="session")
def password_fleet() -> Iterator[SshdFleet]:
    """Two sshd that take keys and passwords (no PAM: shadow passwords), logging at DEBUG3."""
    config = ("PasswordAuthentication yes", "LogLevel DEBUG3")
    with temporary_fleet(2, extra_config=config, address_base=46) as fleet:
        yield fleet


@pytest.fixture(scope="session")
def kbdint_fleet() -> Iterator[SshdFleet]:
    """Two sshd that offer keyboard-interactive only (through PAM), logging at DEBUG3."""
    config = (
        "UsePAM yes",
        "KbdInteractiveAuthentication yes",
        "PasswordAuthentication no",
        "PubkeyAuthentication no",
        "LogLevel DEBUG3",
    )
    with temporary_fleet(2, extra_config=config, address_base=47) as fleet:
        yield fleet


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[DaskCluster]:
    """A TLS scheduler with two workers of two threads each, for the cluster runs' tests:
    w1 with Dask's worker.daemon off (the README's command), w2 with Dask's default (a
    daemonic worker: shard processes are subprocesses, which it may start)."""
    root = Path(tempfile.mkdtemp(prefix="hostops-dask-run-"))
    try:
        with DaskCluster(root) as c:
            c.add_worker("w1")
            c.add_worker("w2", env={})
            yield c
    finally:
        shutil.rmtree(root, ignore_errors=True)
