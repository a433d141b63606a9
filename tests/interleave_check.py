"""The hard interleave check (tests/integration/test_interleave.py, and its cluster
twin): each host prints 2,000 numbered lines, some longer than PIPE_BUF, one split
across packets, some to stderr; hostops's stdout and stderr in one pipe must hold every
line whole, in order per host, never mixed."""

from __future__ import annotations

import re
from collections import defaultdict

from hostops.testing.fleet import FleetHost

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
SUMMARY = re.compile(rb"^hostops: (\d+) hosts in [\d.]+ s: \1 ok$")
SLOWEST = re.compile(rb"^  slowest: (host\d\d \d+\.\d\d s(, |$))+$")


def check_whole_lines(stdout: bytes, hosts: list[FleetHost]) -> int:
    """Assert every host's lines arrived whole and in order and nothing else came but
    warnings and the summary (its two lines); returns how many warnings came."""
    out: dict[str, list[bytes]] = defaultdict(list)
    err: dict[str, list[bytes]] = defaultdict(list)
    warnings = 0
    summary = 0
    for raw in stdout.split(b"\n")[:-1]:
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
    assert summary == 2
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
    return warnings
