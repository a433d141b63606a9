"""Inventory scale: 10,000 hosts listed one by one in 200 groups, selected with
``web:&prod:!web0*``, timed as a fresh ``hostops inventory`` process (parsing included).

Usage: python benchmarks/bench_inventory.py [--hosts 10000] [--groups 200] [--runs 7]
Writes a table (one row per format: native YAML, Ansible INI, Ansible YAML) into the
"inventory" section of benchmarks/RESULTS.md, and prints its rows.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import replace_section

PATTERN = "web:&prod:!web0*"


def fleet(n_hosts: int, n_groups: int) -> tuple[list[str], dict[str, list[str]]]:
    """Host names (half web, half db) and groups: web, db, prod (every other host), racks."""
    half = n_hosts // 2
    names = [f"web{i:04d}.example.com" for i in range(1, half + 1)]
    names += [f"db{i:04d}.example.com" for i in range(1, n_hosts - half + 1)]
    groups: dict[str, list[str]] = {
        "web": names[:half],
        "db": names[half:],
        "prod": names[::2],
    }
    racks = n_groups - len(groups)
    for r in range(racks):
        groups[f"rack{r:03d}"] = names[r::racks]
    return names, groups


def write_native(path: Path, names: list[str], groups: dict[str, list[str]]) -> None:
    lines = ["defaults:", "  user: ops", "hosts:"]
    lines += [
        f"  {n}:\n    address: 10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
        for i, n in enumerate(names)
    ]
    lines.append("groups:")
    for g, members in groups.items():
        lines.append(f"  {g}:\n    hosts:")
        lines += [f"      - {m}" for m in members]
    path.write_text("\n".join(lines) + "\n")


def write_ini(path: Path, names: list[str], groups: dict[str, list[str]]) -> None:
    lines = [
        f"{n} ansible_host=10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
        for i, n in enumerate(names)
    ]
    for g, members in groups.items():
        lines.append(f"\n[{g}]")
        lines += members
    path.write_text("\n".join(lines) + "\n")


def write_ansible_yaml(path: Path, names: list[str], groups: dict[str, list[str]]) -> None:
    lines = ["all:", "  hosts:"]
    lines += [
        f"    {n}:\n      ansible_host: 10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
        for i, n in enumerate(names)
    ]
    lines.append("  children:")
    for g, members in groups.items():
        lines.append(f"    {g}:\n      hosts:")
        lines += [f"        {m}:" for m in members]
    path.write_text("\n".join(lines) + "\n")


def time_select(inventory: Path, expected: int, runs: int) -> list[float]:
    """Wall seconds of each fresh `hostops inventory --json` process; checks the selection."""
    argv = [
        sys.executable,
        "-m",
        "hostops",
        "inventory",
        "--hosts",
        str(inventory),
        "--limit",
        PATTERN,
        "--json",
        "--no-ssh-config",
    ]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        times.append(time.perf_counter() - start)
        got = len(json.loads(out)["hosts"])
        if got != expected:
            raise SystemExit(f"{inventory.name}: selected {got} hosts, expected {expected}")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--output", type=Path, default=Path(__file__).parent / "RESULTS.md")
    args = parser.parse_args()
    names, groups = fleet(args.hosts, args.groups)
    prod = set(groups["prod"])
    expected = sum(1 for n in groups["web"] if n in prod and not n.startswith("web0"))
    lines = [
        "## Inventory scale",
        "",
        "Reproduce: `python benchmarks/bench_inventory.py"
        f" --hosts {args.hosts} --groups {args.groups} --runs {args.runs}`",
        "",
        f"{args.hosts} hosts listed one by one in {len(groups)} groups;"
        f" `hostops inventory --limit '{PATTERN}' --json --no-ssh-config` (selects {expected})"
        f" as a fresh process, parsing included; {args.runs} runs each.",
        "",
        "| format | median (s) | min | max |",
        "|---|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for label, writer, name in (
            ("native YAML", write_native, "inv.yaml"),
            ("Ansible INI", write_ini, "hosts.ini"),
            ("Ansible YAML", write_ansible_yaml, "ansible.yml"),
        ):
            path = Path(tmp) / name
            writer(path, names, groups)
            t = time_select(path, expected, args.runs)
            lines.append(f"| {label} | {statistics.median(t):.2f} | {min(t):.2f} | {max(t):.2f} |")
            print(lines[-1], flush=True)
    replace_section(args.output, "inventory", "\n".join(lines) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
