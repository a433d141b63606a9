"""Under load, no output line is ever split or mixed with another: one console lock, whole lines.

50 hosts x 2,000 lines at once, stdout and stderr of hostops into ONE pipe,
lines longer than 4 KiB (above PIPE_BUF, so the kernel alone would not keep
them whole), lines split across packets, and warnings written meanwhile.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from interleave_check import REMOTE, check_whole_lines

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import run_hostops


def test_fifty_hosts_two_thousand_lines_never_mix(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    assert len(sshd_fleet.hosts) >= 50
    hosts = sshd_fleet.hosts[:50]
    # Unknown host keys under --host-key-policy off: 50 warnings arrive while output streams.
    inv = sshd_fleet.write_inventory(
        tmp_path / "inv.yaml", hosts, known_hosts=tmp_path / "empty_known_hosts"
    )
    proc = run_hostops(
        "run",
        REMOTE,
        "--hosts",
        str(inv),
        "--host-key-policy",
        "off",
        "--workers",
        "2",
        stderr=subprocess.STDOUT,  # one pipe for both: the hardest case
        text=False,  # the bytes as written
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert check_whole_lines(proc.stdout, hosts) == 51
