"""A host printing as fast as it can, beside 49 normal hosts: the others finish on time,
hostops's memory stays bounded even when nobody reads its stdout, the flood is cut at
--max-output and stopped at --timeout."""

from __future__ import annotations

import time
from pathlib import Path

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import (
    blocked_writing_to_a_pipe,
    child_pids,
    descendant_pids,
    json_results,
    process_name,
    pss_kib,
    run_hostops,
    start_hostops,
    wait_for,
)

_FLOOD = "yes 'flood flood flood flood flood flood flood flood flood flood'"


def _command(fleet: SshdFleet) -> str:
    flooder = fleet.hosts[0].address
    return f"case \"$SSH_CONNECTION\" in *' {flooder} '*) {_FLOOD};; esac; sleep 1; echo fine"


def test_flood_beside_49_hosts_others_on_time_output_cut(sshd_fleet: SshdFleet, tmp_path: Path):
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:50])
    started = time.monotonic()
    r = run_hostops(
        "run",
        _command(sshd_fleet),
        "--hosts",
        str(inv),
        "-o",
        "json",
        "--timeout",
        "8",
        "--max-output",
        "1M",
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert r.returncode == 1, r.stderr
    res = json_results(r.stdout)
    flood = res.pop("host01")
    assert flood["status"] == "timeout" and flood["truncated"] is True
    assert len(flood["stdout"]) == 1 << 20  # exactly --max-output kept
    assert all(o["status"] == "ok" and o["stdout"] == "fine\n" for o in res.values())
    # The others were not held up by the flood (each sleeps 1 s; generous for 2 busy cores).
    assert max(float(o["duration_s"]) for o in res.values()) < 8, sorted(
        (o["duration_s"], h) for h, o in res.items()
    )[-3:]
    assert elapsed < 60


def test_memory_stays_bounded_while_nobody_reads_the_flood(sshd_fleet: SshdFleet, tmp_path: Path):
    """Stream view into a pipe nobody reads: without flow control the worker would buffer
    the flood (~100 MB/s); with it, the remote writer is held by SSH flow control."""
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:50])
    proc = start_hostops(
        "run",
        _command(sshd_fleet),
        "--hosts",
        str(inv),
        "--timeout",
        "12",
        "--max-output",
        "1M",
    )
    try:
        names = lambda: [process_name(p) for p in descendant_pids(proc.pid)]  # noqa: E731
        assert wait_for(lambda: {"hostops-aggr", "hostops-worker"} <= set(names()), timeout=30)
        (aggregator,) = (p for p in child_pids(proc.pid) if process_name(p) == "hostops-aggr")
        # The pipe (64 KiB) is full: the aggregator is blocked writing to it.
        assert wait_for(lambda: blocked_writing_to_a_pipe(aggregator), timeout=30)
        tree = [proc.pid, *descendant_pids(proc.pid)]
        before = pss_kib(tree)
        time.sleep(4)  # the measured span, not a wait for something
        after = pss_kib(tree)
        assert after - before < 32 * 1024, f"grew {(after - before) // 1024} MiB in 4 s"
        assert after < 400 * 1024, f"{after // 1024} MiB in all"
        out, err = proc.communicate(timeout=120)  # now read it all
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 1
    lines = out.splitlines()
    assert sum(1 for line in lines if line.endswith("| fine")) == 49
    assert "timeout  host01  timed out after 12 s" in err
