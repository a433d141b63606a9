"""Key sources (identity file, agent, default keys), command-line overrides, connect timeout."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import json_results, run_hostops, start_hostops, wait_for


def _inventory_without_key(fleet: SshdFleet, path: Path, n: int) -> Path:
    text = fleet.inventory_text(fleet.hosts[:n])
    text = "\n".join(line for line in text.splitlines() if "identity_file" not in line) + "\n"
    path.write_text(text)
    return path


def test_default_key_in_home_is_used(
    sshd_fleet: SshdFleet, tmp_path: Path, isolated_home: Path
) -> None:
    ssh_dir = isolated_home / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    shutil.copy(sshd_fleet.client_key, ssh_dir / "id_ed25519")
    inv = _inventory_without_key(sshd_fleet, tmp_path / "inv.yaml", 3)
    r = run_hostops("run", "echo hi", "--hosts", str(inv))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("| hi") == 3


def test_no_key_at_all_is_auth_failed(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    inv = _inventory_without_key(sshd_fleet, tmp_path / "inv.yaml", 2)
    r = run_hostops("run", "echo hi", "--hosts", str(inv), "-o", "json")
    assert r.returncode == 3
    assert {o["status"] for o in json_results(r.stdout).values()} == {"auth_failed"}


@pytest.fixture
def agent(sshd_fleet: SshdFleet, tmp_path: Path) -> Iterator[str]:
    """A real ssh-agent holding the fleet's client key; yields its socket path."""
    sock = str(tmp_path / "agent.sock")
    proc = subprocess.Popen(
        ["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert wait_for(lambda: os.path.exists(sock), timeout=5), "ssh-agent did not start"
        subprocess.run(
            ["ssh-add", str(sshd_fleet.client_key)],
            env={**os.environ, "SSH_AUTH_SOCK": sock},
            check=True,
            capture_output=True,
        )
        yield sock
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_agent_is_used_unless_no_agent(sshd_fleet: SshdFleet, tmp_path: Path, agent: str) -> None:
    inv = _inventory_without_key(sshd_fleet, tmp_path / "inv.yaml", 3)
    env = {**os.environ, "SSH_AUTH_SOCK": agent}
    r = run_hostops("run", "echo hi", "--hosts", str(inv), env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("| hi") == 3
    r = run_hostops("run", "echo hi", "--hosts", str(inv), "--no-agent", env=env)
    assert r.returncode == 3


def test_identity_and_port_flags_override_the_inventory(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    host = sshd_fleet.hosts[0]
    wrong_key = tmp_path / "wrong"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong_key)], check=True
    )
    text = sshd_fleet.inventory_text([host], identity_file=wrong_key).replace(
        f"port: {host.port}", "port: 1"
    )
    inv = tmp_path / "inv.yaml"
    inv.write_text(text)
    r = run_hostops("run", "echo hi", "--hosts", str(inv), "-o", "json")
    assert json_results(r.stdout)[host.name]["status"] == "unreachable"  # port 1: refused
    r = run_hostops("run", "echo hi", "--hosts", str(inv), "--port", str(host.port), "-o", "json")
    assert json_results(r.stdout)[host.name]["status"] == "auth_failed"  # right port, wrong key
    r = run_hostops(
        "run",
        "echo hi",
        "--hosts",
        str(inv),
        "--port",
        str(host.port),
        "--identity",
        str(sshd_fleet.client_key),
    )
    assert r.returncode == 0, r.stderr


def test_inventory_from_environment(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    r = run_hostops("run", "echo hi", env={**os.environ, "HOSTOPS_INVENTORY": str(inv)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("| hi") == 2


def test_silent_peer_is_unreachable_after_connect_timeout(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    """A peer that accepts TCP but never sends an SSH banner (a tarpit)."""
    with socket.socket() as tarpit:
        tarpit.bind(("127.42.251.1", 0))
        tarpit.listen(16)  # the kernel completes the handshake; nobody ever speaks
        port = tarpit.getsockname()[1]
        inv = sshd_fleet.write_inventory(
            tmp_path / "inv.yaml", sshd_fleet.hosts[:2], extra={"tarpit": ("127.42.251.1", port)}
        )
        started = time.monotonic()
        r = run_hostops(
            "run", "echo hi", "--hosts", str(inv), "--connect-timeout", "1.5", "-o", "json"
        )
        elapsed = time.monotonic() - started
    assert r.returncode == 3
    res = json_results(r.stdout)
    assert res["tarpit"]["status"] == "unreachable"
    assert "handshake failed" in res["tarpit"]["error"]
    assert res[sshd_fleet.hosts[0].name]["status"] == "ok"
    assert elapsed < 20


def test_a_peer_silent_after_its_banner_is_unreachable_after_connect_timeout(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    """It says it is an SSH server, then never sends its key exchange: the connect
    timeout still ends the handshake (timed on the process's alarm thread, not a
    thread per connection: hostops.host.ssh._paramiko.time_handshake_with)."""
    with socket.socket() as tarpit:
        tarpit.bind(("127.42.251.2", 0))
        tarpit.listen(16)
        port = tarpit.getsockname()[1]
        inv = sshd_fleet.write_inventory(
            tmp_path / "inv.yaml", sshd_fleet.hosts[:1], extra={"mute": ("127.42.251.2", port)}
        )
        proc = start_hostops(
            "run", "echo hi", "--hosts", str(inv), "--connect-timeout", "1.5", "-o", "json"
        )
        peer, _ = tarpit.accept()
        with peer:
            peer.sendall(b"SSH-2.0-mute\r\n")
            started = time.monotonic()
            out, err = proc.communicate(timeout=60)
            elapsed = time.monotonic() - started
    assert proc.returncode == 3, err
    res = json_results(out)
    assert res["mute"]["status"] == "unreachable", res["mute"]
    assert res[sshd_fleet.hosts[0].name]["status"] == "ok"
    assert elapsed < 10


def test_testing_command_starts_a_usable_fleet(tmp_path: Path) -> None:
    """`python -m hostops.testing up N` prints an inventory that works, and stops cleanly."""
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "hostops.testing", "up", "3", "--dir", str(tmp_path / "fleet")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "fleet of 3 sshd up" in line, line
        inv = tmp_path / "fleet" / "inventory.yaml"
        r = run_hostops("run", "echo hi", "--hosts", str(inv))
        assert r.returncode == 0, r.stderr
        assert r.stdout.count("| hi") == 3
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode == 0
    assert proc.stdout is not None and "hosts:" in proc.stdout.read()
    pids = subprocess.run(
        ["pgrep", "-f", f"sshd -D -e -f {tmp_path}"], capture_output=True, text=True, check=False
    )
    assert pids.stdout == ""


def test_testing_down_stops_a_fleet_started_in_the_background(tmp_path: Path) -> None:
    """The README starts the fleet with `&`, where Ctrl-C does not reach it: `down` stops it."""
    import sys

    fleet = tmp_path / "fleet"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hostops.testing", "up", "2", "--dir", str(fleet)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        assert "fleet of 2 sshd up" in proc.stderr.readline()
        down = subprocess.run(
            [sys.executable, "-m", "hostops.testing", "down", "--dir", str(fleet)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert down.returncode == 0, down.stderr
        assert proc.wait(timeout=30) == 0  # down returns once the fleet is gone
    finally:
        if proc.poll() is None:
            proc.kill()
    pids = subprocess.run(
        ["pgrep", "-f", f"sshd -D -e -f {tmp_path}"], capture_output=True, text=True, check=False
    )
    assert pids.stdout == ""
    again = subprocess.run(
        [sys.executable, "-m", "hostops.testing", "down", "--dir", str(fleet)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 2 and "no fleet running" in again.stderr
