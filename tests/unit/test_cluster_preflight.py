"""The workers' pre-flight: which files each worker checks, and what it finds."""

from __future__ import annotations

from pathlib import Path

from hostops import __version__
from hostops.cluster.preflight import FileCheck, FileRole, check_files, files_to_check
from hostops.cluster.shards import Shard, WorkerInfo
from hostops.models import Host, SshSettings


def test_each_worker_checks_the_files_of_its_own_hosts_and_their_jump_hosts() -> None:
    jump = Host(name="bastion", address="b", identity_files=("/k/bastion",))
    web = Host(
        name="web01",
        address="w",
        identity_files=("/k/web",),
        known_hosts="/kh/web",
        jump_hosts=(jump,),
    )
    db = Host(
        name="db1",
        address="d",
        ssh=SshSettings(known_hosts_files=("/kh/a", "/kh/b"), global_known_hosts=("/kh/g",)),
    )
    w1, w2 = WorkerInfo("tls://1:1", "w1"), WorkerInfo("tls://2:1", "w2")
    files = files_to_check([Shard(w1, "dc1", ("web01",)), Shard(w2, None, ("db1",))], [web, db])
    identity, known = FileRole.IDENTITY, FileRole.KNOWN_HOSTS
    assert files == {
        "tls://1:1": (
            FileCheck("/k/bastion", identity),
            FileCheck("/k/web", identity),
            FileCheck("/kh/web", known),
            FileCheck("~/.ssh/known_hosts", known),  # the bastion's: the worker's home
        ),
        "tls://2:1": (
            FileCheck("/kh/a", known),
            FileCheck("/kh/b", known),
            FileCheck("/kh/g", known),
        ),
    }


def test_the_check_reports_missing_keys_and_unusable_known_hosts(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("k")
    report = check_files(
        [
            FileCheck(str(key), FileRole.IDENTITY),
            FileCheck(str(tmp_path / "gone"), FileRole.IDENTITY),
            FileCheck(str(tmp_path / "no_known_hosts"), FileRole.KNOWN_HOSTS),  # fine
            FileCheck(str(tmp_path), FileRole.KNOWN_HOSTS),
        ]
    )
    assert report.problems == (
        f"identity file {tmp_path / 'gone'}: no such file",
        f"known_hosts {tmp_path}: not a file",
    )
    assert report.version == __version__ and report.daemonic is False
