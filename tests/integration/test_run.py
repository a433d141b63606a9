"""hostops run against a real sshd fleet: results, statuses, exit codes, JSON, streaming."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from hostops.testing import SshdFleet, free_port
from hostops.testing.pytest_plugin import (
    json_results,
    run_hostops,
    sleep_pids,
    sleep_tag,
    start_hostops,
)

JSON_KEYS = {
    "host",
    "address",
    "status",
    "exit_code",
    "signal",
    "stdout",
    "stderr",
    "duration_s",
    "error",
}


def test_every_host_answers_with_its_own_output(fleet20: tuple[SshdFleet, Path]) -> None:
    fleet, inv = fleet20
    # $SSH_CONNECTION's third field is the server address: proves which daemon answered.
    r = run_hostops(
        "run", "echo out $(echo $SSH_CONNECTION | cut -d' ' -f3); echo err >&2", "--hosts", str(inv)
    )
    assert r.returncode == 0, r.stderr
    for h in fleet.hosts[:20]:
        assert re.search(rf"^{h.name} \| out {re.escape(h.address)}$", r.stdout, re.M), r.stdout
        assert re.search(rf"^{h.name} ! err$", r.stderr, re.M)
    assert len(r.stdout.splitlines()) == 20
    assert "20 hosts in" in r.stderr and "20 ok" in r.stderr


def test_nonzero_exits_are_failed_with_exit_code_1(fleet20: tuple[SshdFleet, Path]) -> None:
    fleet, inv = fleet20
    bad = {h.address for h in fleet.hosts[:3]}
    cmd = (
        "a=$(echo $SSH_CONNECTION | cut -d' ' -f3); case $a in "
        + "|".join(bad)
        + ") exit 7;; esac; echo fine"
    )
    r = run_hostops("run", cmd, "--hosts", str(inv), "-o", "json")
    assert r.returncode == 1, r.stderr
    res = json_results(r.stdout)
    assert len(res) == 20
    for h in fleet.hosts[:20]:
        if h.address in bad:
            assert res[h.name]["status"] == "failed" and res[h.name]["exit_code"] == 7
        else:
            assert res[h.name]["status"] == "ok" and res[h.name]["stdout"] == "fine\n"
    # The summary folds hosts that failed the same way into one node set.
    assert re.search(r"^  failed  host\[01-03\]  exit 7$", r.stderr, re.M), r.stderr


def test_json_schema(fleet20: tuple[SshdFleet, Path]) -> None:
    _, inv = fleet20
    r = run_hostops(
        "run",
        "printf 'a\\377b\\n'; echo oops >&2; kill -s KILL $$",
        "--hosts",
        str(inv),
        "-o",
        "json",
    )
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 20  # one object per host, nothing else on stdout
    for obj in json_results(r.stdout).values():
        assert set(obj) >= JSON_KEYS
        assert obj["status"] == "failed"
        assert obj["exit_code"] is None and obj["signal"] == "KILL"
        assert obj["stdout"] == "a\ufffdb\n"  # invalid UTF-8 replaced
        assert obj["stderr"] == "oops\n"
        assert isinstance(obj["duration_s"], float) and obj["duration_s"] >= 0
        assert obj["error"] == "killed by signal KILL"
        assert re.fullmatch(r"127\.42\.\d+\.\d+", str(obj["address"]))


def test_unreachable_host_exit_3_others_intact(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    hosts = sshd_fleet.hosts[:5]
    closed = free_port("127.42.250.1")  # nothing listens there
    inv = sshd_fleet.write_inventory(
        tmp_path / "inv.yaml", hosts, extra={"closed": ("127.42.250.1", closed)}
    )
    started = time.monotonic()
    r = run_hostops("run", "echo up", "--hosts", str(inv), "-o", "json")
    assert time.monotonic() - started < 30
    assert r.returncode == 3, r.stderr
    res = json_results(r.stdout)
    assert res["closed"]["status"] == "unreachable"
    assert "connection refused" in str(res["closed"]["error"]).lower()
    assert all(res[h.name]["status"] == "ok" and res[h.name]["stdout"] == "up\n" for h in hosts)
    assert re.search(r"unreachable\s+closed\s+connect to 127\.42\.250\.1", r.stderr)


def test_wrong_key_is_auth_failed(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:4], identity_file=key)
    r = run_hostops("run", "echo never", "--hosts", str(inv), "-o", "json")
    assert r.returncode == 3, r.stderr
    for obj in json_results(r.stdout).values():
        assert obj["status"] == "auth_failed"
        assert "permission denied" in str(obj["error"])
        assert obj["stdout"] == ""


def test_mixed_results_exit_code_precedence(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    """unreachable (3) wins over failed (1)."""
    closed = free_port("127.42.250.2")
    inv = sshd_fleet.write_inventory(
        tmp_path / "inv.yaml", sshd_fleet.hosts[:2], extra={"closed": ("127.42.250.2", closed)}
    )
    r = run_hostops("run", "exit 1", "--hosts", str(inv))
    assert r.returncode == 3


def test_connection_local_beside_ssh_hosts(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    text = sshd_fleet.inventory_text(sshd_fleet.hosts[:2]) + "  here:\n    connection: local\n"
    inv = tmp_path / "inv.yaml"
    inv.write_text(text)
    r = run_hostops("run", "echo via ${SSH_CONNECTION:-local}", "--hosts", str(inv), "-o", "json")
    assert r.returncode == 0, r.stderr
    res = json_results(r.stdout)
    assert res["here"]["stdout"] == "via local\n" and res["here"]["address"] == "here"
    assert res[sshd_fleet.hosts[0].name]["stdout"].startswith("via 127.")


def test_example_inventory_works_without_ssh() -> None:
    example = Path(__file__).resolve().parents[2] / "inventory.example.yaml"
    r = run_hostops("run", "uptime", "--hosts", str(example))
    assert r.returncode == 0, r.stderr
    assert re.match(r"localhost \| .*load average", r.stdout)


def test_output_streams_before_the_command_ends(fleet20: tuple[SshdFleet, Path]) -> None:
    fleet, _ = fleet20
    inv = fleet.write_inventory(Path(fleet.root) / "inv-stream.yaml", fleet.hosts[:3])
    tag = sleep_tag(3)
    proc = start_hostops(
        "run", f"echo a; sleep {tag}; echo b", "--hosts", str(inv), stderr=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    running = sleep_pids(tag)
    rest = proc.stdout.read()
    proc.wait(timeout=60)
    assert first.rstrip().endswith("| a")
    # `a` was shown while the commands still ran.
    assert running, "`a` was shown only after the commands had ended"
    assert rest.count("| b") == 3 and rest.count("| a") == 2


def test_bad_inventory_is_one_line_exit_2(tmp_path: Path) -> None:
    inv = tmp_path / "broken.yaml"
    inv.write_text("hosts:\n  web01:\n    port: [22]\n")
    r = run_hostops("run", "true", "--hosts", str(inv))
    assert r.returncode == 2
    assert (
        r.stderr
        == f"hostops: error: {inv}:3: host 'web01': port must be an integer from 1 to 65535, not [22]\n"
    )
    assert r.stdout == ""


def test_unknown_flag_value_is_one_line_exit_2(tmp_path: Path) -> None:
    r = run_hostops("run", "true", "--hosts", "x.yaml", "--output", "yaml")
    assert r.returncode == 2
    assert r.stderr.startswith("hostops: error: ") and len(r.stderr.splitlines()) == 1
    assert "yaml" in r.stderr
