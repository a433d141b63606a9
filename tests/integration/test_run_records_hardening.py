"""Run records under pressure: a run in progress is neither pruned nor taken for the
last run, and a full disk costs the record, not the run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from full_disk import full_disk

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import json_results, run_hostops


def _runs(home: Path) -> Path:
    return home / ".local" / "state" / "hostops" / "runs"


def test_rerun_uses_the_last_finished_run_not_one_in_progress(
    sshd_fleet: SshdFleet, tmp_path: Path, isolated_home: Path
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:3])
    cmd = 'case "$SSH_CONNECTION" in *127.42.0.1\\ *) exit 0;; esac; exit 3'
    r = run_hostops("run", cmd, "--hosts", str(inv), "-o", "json")
    assert r.returncode == 1, r.stderr
    # Another hostops (a long rollout, say) started since and is still running: its
    # record has a header, a host line, no end line, and its process lives.
    (finished,) = list(_runs(isolated_home).iterdir())
    header = json.loads(finished.read_text().splitlines()[0])
    rollout = subprocess.Popen(["sleep", "60"])
    try:
        run_id = "99991231-235959-000000"
        header.update(id=run_id, pid=rollout.pid, command="rollout")
        host = {"type": "host", "host": "host01", "address": "a", "status": "ok"}
        (_runs(isolated_home) / f"{run_id}.jsonl").write_text(
            json.dumps(header) + "\n" + json.dumps(host) + "\n"
        )
        r = run_hostops("run", "echo again", "--hosts", str(inv), "--rerun", "failed", "-o", "json")
        assert r.returncode == 0, r.stderr
        assert set(json_results(r.stdout)) == {"host02", "host03"}
        # Named by id, a run in progress is refused with a clear line.
        r = run_hostops(
            "run", "true", "--hosts", str(inv), "--rerun", "failed", "--from-run", run_id
        )
        assert r.returncode == 2 and "still in progress" in r.stderr
        assert r.stderr.count("\n") == 1
    finally:
        rollout.kill()
        rollout.wait()


def test_a_full_disk_runs_without_a_record_and_says_so_once(
    sshd_fleet: SshdFleet, tmp_path: Path, isolated_home: Path
) -> None:
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:2])
    with full_disk(isolated_home / ".local" / "state"):
        r = run_hostops("run", "echo hi", "--hosts", str(inv))
        assert r.returncode == 0, r.stderr
        assert "host01 | hi" in r.stdout and "host02 | hi" in r.stdout
        warnings = [line for line in r.stderr.splitlines() if "run record" in line]
        assert len(warnings) == 1 and "No space left on device" in warnings[0], r.stderr
        assert list(_runs(isolated_home).iterdir()) == []  # no 0-byte record left
        r = run_hostops("show", "last")
        assert r.returncode == 2 and "no run records" in r.stderr
