"""What hostops writes for the user stays the user's: files 0600 and directories 0700
whatever the umask, no link planted in a directory followed, no directory another user
can write used; host names map to file names one-to-one (``a/b`` and ``a_b`` apart)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import json_results, run_hostops


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _umask0() -> None:
    os.umask(0)


def _inventory(fleet: SshdFleet, path: Path, names: list[str]) -> Path:
    """Fleet daemons under the given (hostile) names, quoted for YAML."""
    text = fleet.inventory_text(fleet.hosts[:1])
    head = text.split("hosts:\n")[0] + "hosts:\n"
    for i, name in enumerate(names):
        target = fleet.hosts[i % len(fleet.hosts)]
        head += f"  {json.dumps(name)}:\n    address: {target.address}\n    port: {target.port}\n"
    path.write_text(head)
    return path


def test_out_dir_files_are_0600_and_a_planted_link_is_not_followed(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    out = tmp_path / "out"
    out.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (out / "host01.out").symlink_to(victim)
    r = run_hostops(
        "run", "echo hi", "--hosts", str(inv), "--out-dir", str(out), preexec_fn=_umask0
    )
    assert victim.read_text() == "precious\n"  # not truncated, not written through
    assert "host01.out: is a symbolic link (not followed)" in r.stderr
    assert r.returncode == 0  # the run itself is fine


def test_out_dir_and_state_dir_are_private_whatever_the_umask(
    sshd_fleet: SshdFleet, tmp_path: Path, isolated_home: Path
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    out = tmp_path / "new" / "out"
    r = run_hostops(
        "run", "echo hi", "--hosts", str(inv), "--out-dir", str(out), preexec_fn=_umask0
    )
    assert r.returncode == 0, r.stderr
    assert _mode(out) == _mode(out.parent) == 0o700
    files = sorted(out.iterdir())
    assert [f.name for f in files][:3] == ["host01.err", "host01.out", "host01.status"]
    assert {_mode(f) for f in files} == {0o600}
    state = isolated_home / ".local" / "state"
    records = list((state / "hostops" / "runs").iterdir())
    assert len(records) == 1 and _mode(records[0]) == 0o600
    for d in (state, state / "hostops", state / "hostops" / "runs"):
        assert _mode(d) == 0o700, d


def test_directories_others_can_write_are_refused(
    sshd_fleet: SshdFleet, tmp_path: Path, isolated_home: Path
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    r = run_hostops("run", "echo hi", "--hosts", str(inv), "--out-dir", str(shared))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "writable by others" in r.stderr
    r = run_hostops("get", "/etc/hostname", str(shared), "--hosts", str(inv))
    assert r.returncode == 2 and "writable by others" in r.stderr
    # A state directory others can write: a run record planted there is never used.
    runs = isolated_home / ".local" / "state" / "hostops" / "runs"
    r = run_hostops("run", "false", "--hosts", str(inv))
    assert r.returncode == 1
    runs.parent.chmod(0o777)
    r = run_hostops("run", "echo again", "--hosts", str(inv), "--rerun", "failed")
    assert r.returncode == 2 and "writable by others" in r.stderr and "again" not in r.stdout


def test_get_does_not_follow_a_planted_directory_link(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    dest = tmp_path / "dest"
    dest.mkdir(mode=0o700)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (dest / "host01").symlink_to(elsewhere)
    r = run_hostops("get", "/etc/hostname", str(dest), "--hosts", str(inv), "-o", "json")
    res = json_results(r.stdout)
    assert res["host01"]["status"] == "failed"
    assert "symbolic link (not followed)" in str(res["host01"]["error"])
    assert res["host02"]["status"] == "ok"
    assert list(elsewhere.iterdir()) == []


def test_host_names_that_would_collide_get_files_of_their_own(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    names = ["a/b", "a_b", "a%2Fb", "..", "."]
    inv = _inventory(sshd_fleet, tmp_path / "inv.yaml", names)
    out = tmp_path / "out"
    cmd = "echo $SSH_CONNECTION"
    r = run_hostops("run", cmd, "--hosts", str(inv), "--out-dir", str(out), "-o", "json")
    res = json_results(r.stdout)
    assert set(res) == set(names) and {v["status"] for v in res.values()} == {"ok"}, r.stderr
    expected = {"a%2Fb", "a_b", "a%252Fb", "%2E%2E", "%2E"}
    assert {p.name.rsplit(".", 1)[0] for p in out.iterdir()} == expected
    for name, stem in zip(names, ["a%2Fb", "a_b", "a%252Fb", "%2E%2E", "%2E"], strict=True):
        assert (out / f"{stem}.out").read_bytes() == res[name]["stdout"].encode()
        assert (out / f"{stem}.status").read_text() == "ok 0\n"
    dest = tmp_path / "dest"
    r = run_hostops("get", "/etc/hostname", str(dest), "--hosts", str(inv), "-o", "json")
    assert {v["status"] for v in json_results(r.stdout).values()} == {"ok"}, r.stderr
    assert {p.name for p in dest.iterdir()} == expected
    assert all((dest / stem / "etc" / "hostname").is_file() for stem in expected)
