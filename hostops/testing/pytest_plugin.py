"""pytest fixtures for testing against a real sshd fleet.

Enable with ``pytest_plugins = ["hostops.testing.pytest_plugin"]`` in a conftest.
A missing sshd is an error, never a skip: the tests exist to exercise real SSH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hostops.testing.fleet import SshdFleet

FLEET_SIZE = int(os.environ.get("HOSTOPS_TEST_FLEET_SIZE", "50"))


@pytest.fixture(scope="session")
def sshd_fleet() -> Iterator[SshdFleet]:
    """A session-wide fleet of real sshd daemons (``HOSTOPS_TEST_FLEET_SIZE``, default 50).

    Its directory is world-traversable (pytest's own tmp dirs are not): sshd
    reads authorized_keys as the user logging in, who may not be us.
    """
    root = tempfile.mkdtemp(prefix="hostops-fleet-")
    try:
        with SshdFleet(root, FLEET_SIZE) as fleet:
            yield fleet
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the user's ~/.ssh (config, keys, known_hosts), agent and XDG dirs out of every test."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var in ("SSH_AUTH_SOCK", "HOSTOPS_INVENTORY", "NO_COLOR"):
        monkeypatch.delenv(var, raising=False)
    for var, sub in (
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_CACHE_HOME", ".cache"),
    ):
        monkeypatch.setenv(var, str(home / sub))
    return home


def run_hostops(
    *args: str, timeout: float = 120, input: bytes | None = None, **kw: object
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI (``python -m hostops``) in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "hostops", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        input=input,
        **kw,  # type: ignore[arg-type]
    )


def json_results(stdout: str) -> dict[str, dict[str, object]]:
    """Parse ``--output json`` stdout by host; every line must be one JSON object."""
    out: dict[str, dict[str, object]] = {}
    for line in stdout.splitlines():
        obj = json.loads(line)
        assert isinstance(obj, dict), line
        out[str(obj["host"])] = obj
    return out


def sleep_pids(tag: str) -> list[int]:
    """PIDs of ``sleep TAG...`` processes: tests run ``sleep 3001.123456`` remotely to find
    their commands again. Anchored, since the shells that started them (and hostops
    itself) carry the text in their command lines too."""
    r = subprocess.run(
        ["pgrep", "-f", f"^sleep {tag}"], capture_output=True, text=True, check=False
    )
    return [int(p) for p in r.stdout.split()]


def wait_for(predicate: Callable[[], bool], timeout: float = 20) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout`` seconds pass (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def child_pids(ppid: int) -> list[int]:
    """PIDs of the processes whose parent is ``ppid`` (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue  # it ended meanwhile
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == ppid:
                out.append(int(entry))
    return out
