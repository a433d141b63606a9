"""Host key checking under each --host-key-policy, against real sshd host keys."""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import json_results, run_hostops


def _inventory(fleet: SshdFleet, tmp_path: Path, known_hosts: Path, n: int = 20) -> Path:
    return fleet.write_inventory(tmp_path / "inv.yaml", fleet.hosts[:n], known_hosts=known_hosts)


def _fingerprint(key_line: str) -> str:
    """``ssh-ed25519 SHA256:...`` of a ``type base64`` public key line, as OpenSSH shows it."""
    kind, blob = key_line.split()[:2]
    digest = base64.b64encode(hashlib.sha256(base64.b64decode(blob)).digest()).decode()
    return f"{kind} SHA256:{digest.rstrip('=')}"


def _other_key_line(tmp_path: Path) -> str:
    key = tmp_path / "impostor"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return " ".join(Path(f"{key}.pub").read_text().split()[:2])


def test_unknown_key_strict_is_rejected_with_advice(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"  # does not exist: every key is unknown
    r = run_hostops(
        "run", "echo hi", "--hosts", str(_inventory(sshd_fleet, tmp_path, known)), "-o", "json"
    )
    assert r.returncode == 3
    for h in sshd_fleet.hosts[:20]:
        obj = json_results(r.stdout)[h.name]
        assert obj["status"] == "hostkey_rejected" and obj["stdout"] == ""
        assert "unknown host key" in obj["error"] and "SHA256:" in obj["error"]
        assert f"ssh-keyscan -p {h.port} {h.address}" in obj["error"]
    assert not known.exists()  # strict never writes


def test_accept_new_records_every_key_once_from_many_workers(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    known = tmp_path / "ssh" / "known_hosts"  # the directory is created too
    inv = _inventory(sshd_fleet, tmp_path, known)
    # No ssh_config: the machine's may say HashKnownHosts yes (Debian's does), and these
    # lines are compared as written in plain.
    r = run_hostops(
        "run", "echo hi", "--hosts", str(inv), "--host-key-policy", "accept-new",
        "--workers", "2", "--no-ssh-config",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = known.read_text().splitlines()
    assert sorted(lines) == sorted(
        f"{h.known_hosts_pattern} {h.host_key_line}" for h in sshd_fleet.hosts[:20]
    )
    assert r.stderr.count("recorded new host key") == 20
    # Second run: the keys are known now, strict accepts them and nothing is added.
    r2 = run_hostops("run", "echo hi", "--hosts", str(inv))
    assert r2.returncode == 0, r2.stderr
    assert known.read_text().splitlines() == lines


@pytest.mark.parametrize("policy", ["strict", "accept-new"])
def test_changed_key_is_rejected(sshd_fleet: SshdFleet, tmp_path: Path, policy: str) -> None:
    hosts = sshd_fleet.hosts[:3]
    known = sshd_fleet.write_known_hosts(tmp_path / "known_hosts", hosts)
    victim = hosts[1]
    old_line = _other_key_line(tmp_path)
    text = known.read_text().replace(victim.host_key_line, old_line)
    known.write_text(text)
    inv = _inventory(sshd_fleet, tmp_path, known, n=3)
    r = run_hostops(
        "run", "echo hi", "--hosts", str(inv), "--host-key-policy", policy, "-o", "json"
    )
    assert r.returncode == 3
    res = json_results(r.stdout)
    assert res[victim.name]["status"] == "hostkey_rejected"
    assert res[victim.name]["error"].startswith(
        f"HOST KEY CHANGED for {victim.known_hosts_pattern}: {known} has {_fingerprint(old_line)},"
        f" the host now shows {_fingerprint(victim.host_key_line)}: possible man-in-the-middle"
    )
    assert f"-R '{victim.known_hosts_pattern}'" in res[victim.name]["error"]
    assert res[hosts[0].name]["status"] == res[hosts[2].name]["status"] == "ok"
    assert known.read_text() == text  # never overwritten


def test_policy_off_accepts_unknown_and_changed_with_warnings(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    hosts = sshd_fleet.hosts[:4]
    known = sshd_fleet.write_known_hosts(tmp_path / "known_hosts", hosts[:1])
    known.write_text(known.read_text().replace(hosts[0].host_key_line, _other_key_line(tmp_path)))
    before = known.read_text()
    inv = _inventory(sshd_fleet, tmp_path, known, n=4)
    r = run_hostops("run", "echo hi", "--hosts", str(inv), "--host-key-policy", "off")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("| hi") == 4
    assert re.search(r"^hostops: warning: --host-key-policy off", r.stderr, re.M)
    assert r.stderr.count("host key not verified") == 4
    assert known.read_text() == before  # off never records anything


def test_known_hosts_flag_overrides_inventory(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    inv = _inventory(sshd_fleet, tmp_path, tmp_path / "missing_known_hosts", n=2)
    r = run_hostops(
        "run", "echo hi", "--hosts", str(inv), "--known-hosts", str(sshd_fleet.known_hosts)
    )
    assert r.returncode == 0, r.stderr


def test_hashed_known_hosts_are_understood(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    """Debian's ssh_config sets HashKnownHosts yes: names are stored as HMACs."""
    known = sshd_fleet.write_known_hosts(tmp_path / "known_hosts", sshd_fleet.hosts[:3])
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(known)], check=True, capture_output=True)
    assert "[127." not in known.read_text()  # really hashed
    r = run_hostops("run", "echo hi", "--hosts", str(_inventory(sshd_fleet, tmp_path, known, n=3)))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("| hi") == 3


def test_unreadable_known_hosts_line_is_skipped_with_one_warning(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    """As OpenSSH does: a bad line is skipped, the others still count; said once, not per host."""
    known = sshd_fleet.write_known_hosts(tmp_path / "known_hosts", sshd_fleet.hosts[:4])
    known.write_text("[127.0.0.9]:22 ssh-ed25519 not-base64!!\n" + known.read_text())
    inv = _inventory(sshd_fleet, tmp_path, known, n=4)
    r = run_hostops("run", "echo hi", "--hosts", str(inv), "--workers", "2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("| hi") == 4
    assert r.stderr.count(f"hostops: warning: {known}: ignored unreadable line(s) 1\n") == 1


@pytest.mark.parametrize("policy", ["strict", "accept-new", "off"])
def test_revoked_key_is_refused_under_every_policy_but_off(
    sshd_fleet: SshdFleet, tmp_path: Path, policy: str
) -> None:
    hosts = sshd_fleet.hosts[:2]
    known = sshd_fleet.write_known_hosts(tmp_path / "known_hosts", hosts)
    known.write_text(known.read_text() + f"@revoked * {hosts[0].host_key_line}\n")
    inv = _inventory(sshd_fleet, tmp_path, known, n=2)
    r = run_hostops(
        "run", "echo hi", "--hosts", str(inv), "--host-key-policy", policy, "-o", "json"
    )
    res = json_results(r.stdout)
    assert res[hosts[1].name]["status"] == "ok"
    if policy == "off":
        assert r.returncode == 0
        assert res[hosts[0].name]["status"] == "ok"
        assert (
            f"{hosts[0].name}: host key {_fingerprint(hosts[0].host_key_line)} is marked @revoked"
            f" in {known}: accepted only because of --host-key-policy off"
        ) in r.stderr
    else:
        assert r.returncode == 3
        assert res[hosts[0].name]["status"] == "hostkey_rejected"
        assert res[hosts[0].name]["error"] == (
            f"host key {_fingerprint(hosts[0].host_key_line)} of {hosts[0].known_hosts_pattern}"
            f" is marked @revoked in {known}"
        )


def test_accept_new_never_records_a_revoked_key(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    host = sshd_fleet.hosts[0]
    known = tmp_path / "known_hosts"
    known.write_text(f"@revoked * {host.host_key_line}\n")  # revoked, and otherwise unknown
    inv = _inventory(sshd_fleet, tmp_path, known, n=1)
    r = run_hostops(
        "run", "echo hi", "--hosts", str(inv), "--host-key-policy", "accept-new", "-o", "json"
    )
    assert r.returncode == 3
    assert json_results(r.stdout)[host.name]["status"] == "hostkey_rejected"
    assert known.read_text() == f"@revoked * {host.host_key_line}\n"


def test_a_cert_authority_line_without_a_host_certificate_is_named_in_the_error(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    """A @cert-authority line covers the host, which shows a plain key: unknown, and the
    error says why the CA did not help; a host its pattern excludes gets no such note."""
    hosts = sshd_fleet.hosts[:3]
    known = sshd_fleet.write_known_hosts(tmp_path / "known_hosts", hosts[:1])
    ca = _other_key_line(tmp_path)
    known.write_text(
        known.read_text() + f"@cert-authority [127.42.*]:*,!{hosts[2].known_hosts_pattern} {ca}\n"
    )
    inv = _inventory(sshd_fleet, tmp_path, known, n=3)
    r = run_hostops("run", "echo hi", "--hosts", str(inv), "--workers", "2", "-o", "json")
    assert r.returncode == 3
    res = json_results(r.stdout)
    assert res[hosts[0].name]["status"] == "ok"
    assert res[hosts[1].name]["error"].endswith(
        f"; a @cert-authority line covers it ({known}:2) but the host showed no certificate"
    )
    assert "@cert-authority" not in res[hosts[2].name]["error"]  # excluded by its pattern


def test_accept_new_records_50_new_hosts_once_each(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    """Several workers learning new keys at once: each key written exactly once, and the
    file stays valid for OpenSSH (ssh-keygen reads every line)."""
    assert len(sshd_fleet.hosts) >= 50, "HOSTOPS_TEST_FLEET_SIZE must be at least 50"
    hosts = sshd_fleet.hosts[:50]
    known = tmp_path / "known_hosts"
    inv = _inventory(sshd_fleet, tmp_path, known, n=50)
    r = run_hostops(
        "run", "true", "--hosts", str(inv), "--host-key-policy", "accept-new", "--workers", "4",
        "--no-ssh-config",  # plain lines whatever the machine's HashKnownHosts
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = known.read_text().splitlines()
    assert sorted(lines) == sorted(f"{h.known_hosts_pattern} {h.host_key_line}" for h in hosts)
    listed = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(known)], capture_output=True, text=True, check=True
    )
    assert len(listed.stdout.splitlines()) == 50
    for h in hosts[::7]:
        found = subprocess.run(
            ["ssh-keygen", "-F", h.known_hosts_pattern, "-f", str(known)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert h.host_key_line in found.stdout
    r = run_hostops("run", "true", "--hosts", str(inv))  # strict: all known now
    assert r.returncode == 0, r.stderr
