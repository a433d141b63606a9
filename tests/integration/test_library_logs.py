"""Library log records (paramiko's errors and tracebacks) are hostops's to show: never on
stderr by Python's last-resort handler, only with --debug, whole lines under the lock."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import json_results, run_hostops

# What each hostile listener does with a connection.
_BEHAVIOURS: dict[str, Callable[[socket.socket], None]] = {
    "closes": lambda conn: None,  # closes at once, before any banner
    "silent": lambda conn: time.sleep(4),  # no banner: paramiko's banner timeout
    "http": lambda conn: conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n"),
    # A valid banner, then bytes that are no SSH packet: paramiko's transport
    # thread fails inside the key exchange (and logs a traceback).
    "garbage": lambda conn: conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n" + bytes(range(256)) * 8),
}


@contextlib.contextmanager
def _listeners(base: int) -> Iterator[dict[str, tuple[str, int]]]:
    stop = threading.Event()
    socks = []
    where = {}
    for i, (name, behave) in enumerate(_BEHAVIOURS.items()):
        peer = socket.socket()
        peer.bind((f"127.42.{base}.{i + 1}", 0))
        peer.listen(16)
        peer.settimeout(0.2)
        socks.append(peer)
        where[name] = (f"127.42.{base}.{i + 1}", peer.getsockname()[1])

        def serve(peer: socket.socket = peer, behave: Callable[..., None] = behave) -> None:
            while not stop.is_set():
                try:
                    conn, _ = peer.accept()
                except OSError:
                    continue
                with conn, contextlib.suppress(OSError):
                    behave(conn)
                    conn.shutdown(socket.SHUT_WR)
                    conn.settimeout(2)
                    conn.recv(65536)

        threading.Thread(target=serve, daemon=True).start()
    try:
        yield where
    finally:
        stop.set()
        for peer in socks:
            peer.close()


@pytest.mark.parametrize("debug", [False, True])
def test_hostile_listeners_leave_no_library_output(
    sshd_fleet: SshdFleet, tmp_path: Path, debug: bool
) -> None:
    with _listeners(250 + debug) as where:
        extra = {name: addr for name, addr in where.items()}
        inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2], extra=extra)
        args = ["run", "echo hi", "--hosts", str(inv), "-o", "json", "--connect-retries", "0"]
        args += ["--connect-timeout", "2"]
        r = run_hostops(*args, *(["--debug"] if debug else []))
    res = json_results(r.stdout)
    assert {res[n]["status"] for n in where} <= {"unreachable", "error"}, res
    assert {res[h.name]["status"] for h in sshd_fleet.hosts[:2]} == {"ok"}
    lines = r.stderr.splitlines()
    debug_lines = [line for line in lines if line.startswith("hostops: debug: ")]
    # Outside the debug lines: no traceback, no paramiko record (the summary names the
    # failures in its own words).
    rest = "\n".join(line for line in lines if line not in debug_lines)
    for trace in ("Traceback", 'File "', "paramiko", "Exception", "Error:"):
        assert trace not in rest, r.stderr
    if debug:
        # The library's records are there, attributed to the host they are about.
        assert any("garbage: paramiko.transport: " in line for line in debug_lines), r.stderr
        assert any("Traceback" in line for line in debug_lines), r.stderr
    else:
        assert debug_lines == [], r.stderr
