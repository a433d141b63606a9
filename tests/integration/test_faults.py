"""Hosts that misbehave: each ends with a true status, in bounded time, the others intact."""

from __future__ import annotations

import os
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import json_results, run_hostops, wait_for


def test_garbage_instead_of_a_banner_is_unreachable(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    with socket.socket() as peer:
        peer.bind(("127.42.252.1", 0))
        peer.listen(8)
        port = peer.getsockname()[1]
        stop = threading.Event()

        def serve() -> None:  # an HTTP server, say, where SSH was expected
            peer.settimeout(0.2)
            while not stop.is_set():
                try:
                    conn, _ = peer.accept()
                except OSError:
                    continue
                with conn:
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        text = (
            sshd_fleet.inventory_text(sshd_fleet.hosts[:2])
            + f"  web:\n    address: 127.42.252.1\n    port: {port}\n"
        )
        inv = tmp_path / "inv.yaml"
        inv.write_text(text)
        started = time.monotonic()
        r = run_hostops("run", "echo hi", "--hosts", str(inv), "-o", "json")
        stop.set()
    assert time.monotonic() - started < 30
    assert r.returncode == 3
    res = json_results(r.stdout)
    assert res["web"]["status"] == "unreachable"
    assert "SSH handshake failed" in res["web"]["error"] and "banner" in res["web"]["error"].lower()
    assert {res[h.name]["status"] for h in sshd_fleet.hosts[:2]} == {"ok"}


def test_continuous_output_is_still_stopped_at_the_timeout(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:3])
    started = time.monotonic()
    r = run_hostops(
        "run", "while :; do echo flood; done", "--hosts", str(inv), "--timeout", "2", "-o", "json"
    )
    assert time.monotonic() - started < 30
    assert r.returncode == 1
    for obj in json_results(r.stdout).values():
        assert obj["status"] == "timeout"
        assert obj["stdout"].startswith("flood\n") and obj["stdout"].count("flood") > 100


def test_sshd_killed_mid_command_is_error_connection_lost(tmp_path: Path) -> None:
    """A fleet of its own: this test kills one of its daemons."""
    root = tempfile.mkdtemp(prefix="hostops-fleet-")
    with SshdFleet(root, 3, address_base=43) as fleet:
        inv = fleet.write_inventory(tmp_path / "inv.yaml")
        victim = fleet.hosts[1]
        started = time.monotonic()
        proc_result: dict[str, object] = {}

        def run() -> None:
            proc_result["r"] = run_hostops(
                "run",
                "echo start; sleep 8; echo end",
                "--hosts",
                str(inv),
                "-o",
                "json",
                "--timeout",
                "60",
            )

        runner = threading.Thread(target=run)
        runner.start()
        # Wait until the victim's daemon serves the session (a child of the listener;
        # it runs in a session of its own), then kill the listener and that child.
        assert wait_for(lambda: bool(_children(victim.pid)), timeout=20)
        time.sleep(1.0)  # the command has started
        for pid in [victim.pid, *_children(victim.pid)]:
            os.kill(pid, signal.SIGKILL)
        runner.join(timeout=90)
        r = proc_result["r"]
    assert time.monotonic() - started < 60
    res = json_results(r.stdout)  # type: ignore[attr-defined]
    assert res[victim.name]["status"] == "error"
    assert res[victim.name]["error"] == "connection lost before the command finished"
    assert res[victim.name]["stdout"] == "start\n"
    assert {res[h.name]["status"] for h in fleet.hosts if h is not victim} == {"ok"}
    assert r.returncode == 1  # type: ignore[attr-defined]


def _children(ppid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == ppid:
                out.append(int(entry))
    return out
