"""What masking vaulted values costs: the worker's stream redactor's throughput on
ordinary output, and decrypting each distinct vaulted value at the start of a run.

Feeds 64 MiB of log-like text (lines of words and numbers, one value in every
~10,000 lines) through :class:`hostops.redact.StreamRedactor` in chunks of the sizes
the SSH layer hands the worker's sink, with 0, 3 and 30 values to mask; medians of
5 rounds. Writes benchmarks/RESULTS.md (section "redact").

    python benchmarks/bench_redact.py [--mib 64] [--output benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from pathlib import Path

from bench_common import replace_section
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from hostops.redact import Redactor

_ROUNDS = 5


def _output(mib: int, value: str) -> bytes:
    lines = [
        f"2026-11-30T02:{i % 60:02d}:00 worker[{i}] processed batch {i * 7} in {i % 97} ms\n"
        for i in range(10_000)
    ]
    lines[5_000] = f"token={value}\n"
    block = "".join(lines).encode()
    return block * max(1, (mib << 20) // len(block))


def _mb_per_s(redactor: Redactor, data: bytes, chunk: int) -> float:
    times = []
    for _ in range(_ROUNDS):
        stream = redactor.stream()
        started = time.perf_counter()
        for i in range(0, len(data), chunk):
            stream.feed(data[i : i + chunk])
        stream.flush()
        times.append(time.perf_counter() - started)
    return len(data) / statistics.median(times) / 1e6


def _pbkdf2_ms() -> float:
    times = []
    for _ in range(20):
        started = time.perf_counter()
        PBKDF2HMAC(algorithm=hashes.SHA256(), length=80, salt=b"s" * 32, iterations=10000).derive(
            b"password"
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = parser.parse_args()
    secret = "s3cr3t-token-0123456789"
    data = _output(args.mib, secret)
    rows = []
    for count in (0, 3, 30):
        values = [secret, *(f"other-value-{k:04d}-xyz" for k in range(count - 1))][:count]
        redactor = Redactor(values)
        rates = [_mb_per_s(redactor, data, chunk) for chunk in (4096, 32768)]
        rows.append(f"| {count} | {rates[0]:.0f} | {rates[1]:.0f} |")
    body = "\n".join(
        [
            "## Masking vaulted values (worker side)",
            "",
            f"`python benchmarks/bench_redact.py --mib {args.mib}` ({dt.date.today()}; one core"
            f" of the 2, other work running). {len(data) >> 20} MiB of log lines through one"
            f" StreamRedactor, median of {_ROUNDS} rounds.",
            "",
            "| values to mask | MB/s, 4 KiB chunks | MB/s, 32 KiB chunks |",
            "|---:|---:|---:|",
            *rows,
            "",
            f"Decrypting one vaulted value (PBKDF2-SHA256, 10,000 rounds): {_pbkdf2_ms():.1f} ms;"
            " each distinct value of the selected hosts is decrypted once at the start of a"
            " run given a vault password (so that it can be masked).",
        ]
    )
    replace_section(args.output, "redact", body)
    print(body)


if __name__ == "__main__":
    main()
