"""Under a process limit (RLIMIT_NPROC counts threads), a worker that cannot start a
thread puts the host back in the queue, runs fewer at once and says so once: no
traceback, no host lost. Run as a user other than root, which the limit ignores."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from system_users import ensure_user

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import json_results

USER = "hostops-threads"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def as_user(sshd_fleet: SshdFleet) -> Iterator[tuple[Path, Path]]:
    """A directory of USER's with a copy of the fleet's client key and an inventory."""
    ensure_user(USER, "/bin/sh")
    entry = pwd.getpwnam(USER)
    home = Path(tempfile.mkdtemp(prefix="hostops-threads-"))
    try:
        key = home / "key"
        shutil.copy(sshd_fleet.client_key, key)
        inv = sshd_fleet.write_inventory(
            home / "inv.yaml", sshd_fleet.hosts[:10], identity_file=key
        )
        for path in (home, key, inv):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        key.chmod(0o600)
        yield home, inv
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _run(home: Path, inv: Path, limit: int, runs: Path) -> subprocess.CompletedProcess[str]:
    # ulimit -p: dash's name for RLIMIT_NPROC (processes and threads of the user).
    # The system python (the venv's lies under /root): hostops and its dependencies
    # from this checkout and its venv.
    site = next((ROOT / ".venv" / "lib").glob("python3*/site-packages"))
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "XDG_STATE_HOME": str(home / "state"),
        "PYTHONPATH": f"{ROOT}:{site}",
    }
    cmd = (
        # Each host's command leaves a line in a file named after its sshd's address.
        f"ulimit -p {limit}; exec /usr/bin/python3 -m hostops run"
        f" 'echo hi >> {runs}/$(echo $SSH_CONNECTION | cut -d\\  -f3,4 | tr \\  _)'"
        f" --hosts {inv}"
        " -o json --workers 2 --forks 64"
    )
    return subprocess.run(
        ["/bin/sh", "-c", cmd],
        user=USER,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


# Limits at which hostops itself starts but not every session's threads can (each
# session needs two: its own and paramiko's transport thread; each worker one alarm
# thread for the watchdogs of all its sessions). Lower, and
# not even one session can start: every host then fails, after ~15 s of retries.
@pytest.mark.parametrize("limit", [20, 26, 32])
def test_threads_that_cannot_start_lose_no_host(as_user: tuple[Path, Path], limit: int) -> None:
    home, inv = as_user
    runs = Path(tempfile.mkdtemp(prefix="hostops-runs-"))
    try:
        r = _run(home, inv, limit, runs)
        counts = sorted(len(f.read_text().splitlines()) for f in runs.iterdir())
    finally:
        shutil.rmtree(runs, ignore_errors=True)
    res = json_results(r.stdout)
    errors = {n: o["error"] for n, o in res.items() if o["status"] != "ok"}
    assert len(res) == 10 and not errors, (r.stderr, errors)
    assert "Traceback" not in r.stderr and "worker died" not in r.stderr
    # Said once at most (without the fix, hosts are lost at each of these limits).
    assert r.stderr.count("cannot start a thread") <= 1, r.stderr
    assert counts == [1] * 10, counts  # every host ran its command, none twice
