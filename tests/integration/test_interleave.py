"""Under load, no output line is ever split or mixed with another: one console lock, whole lines.

50 hosts x 2,000 lines at once, stdout and stderr of hostops into ONE pipe,
lines longer than 4 KiB (above PIPE_BUF, so the kernel alone would not keep
them whole), lines split across packets, and warnings written meanwhile.
"""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from pathlib import Path

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import run_hostops

LINES = 2000
LONG = 5000  # every 100th line is this long
# Every line: "<i> <host address>" plus padding; every 50th also goes to stderr.
REMOTE = (
    "printf 'split-'; sleep 0.2; echo joined; "
    "a=$(echo $SSH_CONNECTION | cut -d' ' -f3); "
    f'awk -v a="$a" \'BEGIN {{ for (i = 0; i < {LINES}; i++) {{ '
    f'pad = (i % 100 == 0) ? sprintf("%{LONG}s", "") : ""; gsub(/ /, "x", pad); '
    'print i, a, pad; if (i % 50 == 0) print "e" i, a > "/dev/stderr" } }\''
)
LINE = re.compile(rb"^(host\d\d) +([|!]) (.*)$")
WARNING = re.compile(
    rb"^hostops: warning: (host\d\d: host key not verified .*|--host-key-policy off: .*)$"
)
SUMMARY = re.compile(rb"^hostops: 50 hosts in [\d.]+ s: 50 ok$")
SLOWEST = re.compile(rb"^  slowest: (host\d\d \d+\.\d\d s(, |$))+$")


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
    out: dict[str, list[bytes]] = defaultdict(list)
    err: dict[str, list[bytes]] = defaultdict(list)
    warnings = 0
    summary = 0
    for raw in proc.stdout.split(b"\n")[:-1]:
        m = LINE.match(raw)
        if m:
            (out if m.group(2) == b"|" else err)[m.group(1).decode()].append(m.group(3))
        elif WARNING.match(raw):
            warnings += 1
        elif SUMMARY.match(raw) or SLOWEST.match(raw):
            summary += 1
        else:
            raise AssertionError(
                f"a line that is neither output, warning nor summary: {raw[:200]!r}"
            )
    assert warnings == 51 and summary == 2
    by_name = {h.name: h for h in hosts}
    assert set(out) == set(by_name)
    for name, lines in out.items():
        address = by_name[name].address.encode()
        assert lines[0] == b"split-joined"  # a line sent in two packets arrives whole
        expected = []
        for i in range(LINES):
            pad = b"x" * LONG if i % 100 == 0 else b""
            expected.append(b"%d %s %s" % (i, address, pad))
        assert lines[1:] == expected, f"{name}: lines missing, split or out of order"
        assert err[name] == [b"e%d %s" % (i, address) for i in range(0, LINES, 50)]
