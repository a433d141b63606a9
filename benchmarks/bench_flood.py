"""One host printing 1 GB beside normal hosts: what it costs hostops in memory and time.

Starts a loopback fleet, runs ``hostops run`` twice per view -- once with host01
flooding (``yes ... | head -c SIZE``), once with host01 quiet -- samples the
proportional set size (PSS, /proc/PID/smaps_rollup) of every hostops process
every 50 ms, and writes the peaks side by side to benchmarks/RESULTS.md
(section "flood"). The figure of interest: peak PSS with the flood minus
without it (the issue's bound: about 64 MB).

    python benchmarks/bench_flood.py [--size 1G] [--hosts 51] [--output benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import replace_section
from procstat import tree

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import pss_kib

_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def _run(inv: Path, command: str, view: str) -> tuple[float, int, dict[str, dict[str, object]]]:
    """Wall time, peak PSS (KiB) of the hostops tree, and the JSON results."""
    out_path = Path(tempfile.mkstemp(prefix="bench-flood-")[1])
    args = [sys.executable, "-m", "hostops", "run", command, "--hosts", str(inv), "--no-record"]
    args += ["-o", "json"] if view == "json" else []
    started = time.monotonic()
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(
            args, stdout=out if view == "json" else subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        peak = 0
        while proc.poll() is None:
            peak = max(peak, pss_kib(tree([proc.pid])))
            time.sleep(0.05)
    wall = time.monotonic() - started
    results = {}
    if view == "json":
        for line in out_path.read_text().splitlines():
            obj = json.loads(line)
            results[obj["host"]] = obj
    out_path.unlink()
    return wall, peak, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1G", help="bytes the flooding host prints (K/M/G)")
    parser.add_argument("--hosts", type=int, default=51, help="fleet size, the flooder included")
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    opts = parser.parse_args()
    size = (
        int(opts.size[:-1]) * _UNITS[opts.size[-1].upper()]
        if opts.size[-1].isalpha()
        else int(opts.size)
    )
    began = dt.datetime.now(dt.timezone.utc)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-flood-fleet-") as root:
        Path(root).chmod(0o755)
        with SshdFleet(root, opts.hosts) as fleet:
            inv = fleet.write_inventory(Path(root) / "inv.yaml")
            flooder = fleet.hosts[0].address
            line = "x" * 99
            flood = f"yes {line} | head -c {size}"
            for view in ("json", "stream"):
                measured = {}
                for label, first in (("quiet", "true"), ("flood", flood)):
                    cmd = f"case \"$SSH_CONNECTION\" in *' {flooder} '*) {first};; esac; sleep 1; echo fine"
                    wall, peak, res = _run(inv, cmd, view)
                    others = [o for h, o in res.items() if h != fleet.hosts[0].name]
                    slowest = max((float(o["duration_s"]) for o in others), default=float("nan"))
                    measured[label] = (wall, peak, slowest, res.get(fleet.hosts[0].name))
                    print(
                        f"{view} {label}: {wall:.1f} s, peak PSS {peak / 1024:.0f} MiB",
                        file=sys.stderr,
                    )
                (qw, qp, _qs, _), (fw, fp, fs, fres) = measured["quiet"], measured["flood"]
                kept = (
                    "-"
                    if fres is None
                    else f"{len(str(fres['stdout'])) / 1048576:.0f} MiB, truncated={fres['truncated']}"
                )
                rows.append(
                    f"| {view} | {qw:.1f} | {fw:.1f} | {size / (1 << 20) / max(fw - qw, 0.001):.0f} | "
                    f"{qp / 1024:.0f} | {fp / 1024:.0f} | **{(fp - qp) / 1024:+.0f}** | "
                    f"{'-' if view != 'json' else f'{fs:.2f}'} | {kept} |"
                )
    body = (
        f"""# hostops benchmark: one host printing {opts.size} beside {opts.hosts - 1} normal hosts

Written by `benchmarks/bench_flood.py`. Reproduce:

```sh
python benchmarks/bench_flood.py --size {opts.size} --hosts {opts.hosts}
```

Run {began:%Y-%m-%d %H:%M} UTC on this machine (2 cores). Each normal host runs
`sleep 1; echo fine`; host01 first prints {opts.size} of 100-byte lines (`yes | head -c`).
Peak PSS is summed over every hostops process (main, aggregator, workers), sampled
every 50 ms; "quiet" is the same run with host01 printing nothing.
The `stream` view writes every line to /dev/null; `json` keeps `--max-output`
(default 4 MiB per stream) of it for the report.

| view | wall quiet (s) | wall flood (s) | flood MiB/s | peak PSS quiet (MiB) | peak PSS flood (MiB) | flood adds (MiB) | slowest normal host (s) | host01 kept |
|---|---|---|---|---|---|---|---|---|
"""
        + "\n".join(rows)
        + "\n"
    )
    replace_section(opts.output, "flood", body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
