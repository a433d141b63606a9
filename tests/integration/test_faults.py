"""Hosts that misbehave: each ends with a true status, in bounded time, the others intact."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from held import held, release

from hostops.testing import SshdFleet, free_port
from hostops.testing.pytest_plugin import (
    child_pids,
    json_results,
    run_hostops,
    sleep_pids,
    sleep_tag,
    start_hostops,
    temporary_fleet,
    wait_for,
)


def _received(out_dir: Path, host: str) -> str:
    """What hostops has received from ``host`` on stdout so far (``--out-dir``)."""
    try:
        return (out_dir / f"{host}.out").read_text()
    except FileNotFoundError:
        return ""


def test_garbage_instead_of_a_banner_is_unreachable(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    with socket.socket() as web, socket.socket() as reset:
        for peer in (web, reset):
            peer.bind(("127.42.252.1", 0))
            peer.listen(8)
            peer.settimeout(0.2)
        stop = threading.Event()

        def serve(peer: socket.socket, answer: bytes | None) -> None:
            while not stop.is_set():
                try:
                    conn, _ = peer.accept()
                except OSError:
                    continue
                with conn:
                    conn.settimeout(5)
                    conn.recv(256)  # the client's banner: it is waiting for ours now
                    if answer is None:  # no banner, and a reset: SO_LINGER 0 sends RST
                        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                    else:  # an HTTP server, say, where SSH was expected
                        conn.sendall(answer)

        for peer, answer in ((web, b"HTTP/1.1 400 Bad Request\r\n\r\n"), (reset, None)):
            threading.Thread(target=serve, args=(peer, answer), daemon=True).start()
        extra = {
            "web": ("127.42.252.1", web.getsockname()[1]),
            "reset": ("127.42.252.1", reset.getsockname()[1]),
        }
        inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2], extra=extra)
        started = time.monotonic()
        r = run_hostops("run", "echo hi", "--hosts", str(inv), "-o", "json")
        stop.set()
    assert time.monotonic() - started < 30
    assert r.returncode == 3
    res = json_results(r.stdout)
    assert res["web"]["status"] == res["reset"]["status"] == "unreachable"
    # One clean line each, not paramiko's "Error reading SSH protocol banner[Errno 104] ..."
    assert res["web"]["error"] == "no SSH banner: connection closed"
    assert res["reset"]["error"] == "no SSH banner: connection reset by peer"
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
    with temporary_fleet(3, address_base=43) as fleet:
        inv = fleet.write_inventory(tmp_path / "inv.yaml")
        victim = fleet.hosts[1]
        out_dir, hold = tmp_path / "out", tmp_path / "hold"
        hold.mkdir()
        started = time.monotonic()
        proc = start_hostops(
            "run",
            f"echo start; {held(hold)}; echo end",
            "--hosts",
            str(inv),
            "-o",
            "json",
            "--timeout",
            "60",
            "--out-dir",
            str(out_dir),
        )
        # Wait until the victim's command has started and its first output has reached
        # hostops, then kill the daemon's listener and the session it serves (a child of
        # the listener, in a session of its own).
        try:
            assert wait_for(lambda: _received(out_dir, victim.name) == "start\n", timeout=20)
            for pid in [victim.pid, *child_pids(victim.pid)]:
                os.kill(pid, signal.SIGKILL)
        finally:
            release(hold)  # the other hosts' commands end
        out, _ = proc.communicate(timeout=90)
    assert time.monotonic() - started < 60
    res = json_results(out)
    assert res[victim.name]["status"] == "error"
    assert res[victim.name]["error"] == "connection lost before the command finished"
    assert res[victim.name]["stdout"] == "start\n"
    assert {res[h.name]["status"] for h in fleet.hosts if h is not victim} == {"ok"}
    assert proc.returncode == 1


def test_idle_timeout_stops_a_silent_command_but_not_a_talkative_one(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    tag = sleep_tag(3005)
    a, b = sshd_fleet.hosts[0].address, sshd_fleet.hosts[1].address
    # host01 prints every 0.5 s for 3 s; host02 prints once, then hangs silently.
    cmd = (
        f"case $(echo $SSH_CONNECTION | cut -d' ' -f3) in {a}) for i in 1 2 3 4 5 6; do echo tick; sleep 0.5; done;; "
        f"{b}) echo once; sleep {tag};; esac"
    )
    started = time.monotonic()
    r = run_hostops("run", cmd, "--hosts", str(inv), "--idle-timeout", "2", "-o", "json")
    assert time.monotonic() - started < 30
    res = json_results(r.stdout)
    assert res[sshd_fleet.hosts[0].name]["status"] == "ok"
    silent = res[sshd_fleet.hosts[1].name]
    assert silent["status"] == "timeout" and silent["error"] == "no output for 2 s (--idle-timeout)"
    assert silent["stdout"] == "once\n"
    assert r.returncode == 1
    assert wait_for(lambda: not sleep_pids(tag), timeout=10)


def test_refused_connections_are_retried_auth_failures_never(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    closed = free_port("127.42.253.1")
    inv = sshd_fleet.write_inventory(
        tmp_path / "inv.yaml", sshd_fleet.hosts[:1], extra={"closed": ("127.42.253.1", closed)}
    )
    started = time.monotonic()
    r = run_hostops("run", "true", "--hosts", str(inv), "--connect-retries", "2", "-o", "json")
    elapsed = time.monotonic() - started
    res = json_results(r.stdout)
    assert res["closed"]["status"] == "unreachable" and res["closed"]["attempts"] == 3
    assert res[sshd_fleet.hosts[0].name]["attempts"] == 1
    assert 0.75 <= elapsed < 30  # two backoffs: 0.5 s and 1 s, each with jitter x0.5..1.5
    key = tmp_path / "wrong"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    inv2 = sshd_fleet.write_inventory(
        tmp_path / "inv2.yaml", sshd_fleet.hosts[:1], identity_file=key
    )
    r = run_hostops("run", "true", "--hosts", str(inv2), "--connect-retries", "3", "-o", "json")
    (obj,) = json_results(r.stdout).values()
    assert obj["status"] == "auth_failed" and obj["attempts"] == 1


def test_a_host_that_stops_answering_is_noticed_by_keepalive(tmp_path: Path) -> None:
    """SIGSTOP the sshd serving the session: TCP stays up, nothing answers (as a hung kernel)."""
    with temporary_fleet(2, address_base=44) as fleet:
        inv = fleet.write_inventory(tmp_path / "inv.yaml")
        victim = fleet.hosts[0]
        out_dir, hold = tmp_path / "out", tmp_path / "hold"
        hold.mkdir()
        started = time.monotonic()
        proc = start_hostops(
            "run",
            f"echo start; {held(hold)}",
            "--hosts",
            str(inv),
            "--keepalive",
            "1,2",
            "-o",
            "json",
            "--out-dir",
            str(out_dir),
        )

        def sessions() -> list[int]:
            """The logged-in session's sshd ("sshd: USER@notty"), not a pre-auth child."""
            found = []
            for pid in child_pids(victim.pid):
                with contextlib.suppress(OSError):
                    if b"@notty" in Path(f"/proc/{pid}/cmdline").read_bytes():
                        found.append(pid)
            return found

        try:
            assert wait_for(lambda: bool(sessions()), timeout=20)
            # The command has started: hostops has its first output.
            assert wait_for(lambda: _received(out_dir, victim.name) == "start\n", timeout=20)
            stopped = sessions()
            for pid in stopped:
                os.kill(pid, signal.SIGSTOP)
        finally:
            release(hold)  # the other host's command ends; the victim's answers nobody
        try:
            out, _ = proc.communicate(timeout=60)
        finally:
            for pid in stopped:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    os.kill(pid, signal.SIGCONT)
        elapsed = time.monotonic() - started
    res = json_results(out)
    gone = res[victim.name]
    assert gone["status"] == "error" and "no response from the host" in gone["error"]
    assert res[fleet.hosts[1].name]["status"] == "ok"
    assert elapsed < 30


def test_low_open_file_limit_caps_forks_with_a_warning(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    # 500 hosts: the fleet's 50 daemons, each under ten names.
    aliases = {
        f"{h.name}-{k}": (h.address, h.port) for h in sshd_fleet.hosts[:50] for k in range(1, 10)
    }
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:50], extra=aliases)

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    r = run_hostops(
        "run",
        "true",
        "--hosts",
        str(inv),
        "--forks",
        "500",
        "--workers",
        "2",
        "-o",
        "json",
        preexec_fn=low_limit,
    )
    assert r.returncode == 0, r.stderr
    res = json_results(r.stdout)
    assert len(res) == 500 and {o["status"] for o in res.values()} == {"ok"}
    assert (
        "open-file limit 256 (ulimit -n) is too low for --forks 500: running 96 hosts at a time instead"
        in r.stderr
    )
