"""What the benchmark's Python client scripts share: the targets they read, the lines they write.

``bench_run.py`` writes a JSON list of :class:`Target` for each fleet size; each
client script (``paramiko_pool.py``, ``asyncssh_gather.py``) reads it, runs the
command on every target and prints one JSON object per host on stdout
(:func:`emit`), which ``bench_run.py`` verifies.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Target:
    """One host to connect to."""

    name: str
    address: str
    port: int
    user: str


def write_targets(path: Path, targets: list[Target]) -> Path:
    """Write ``targets`` as a JSON list to ``path`` and return the path."""
    path.write_text(json.dumps([asdict(t) for t in targets], indent=1) + "\n")
    return path


def read_targets(path: str | Path) -> list[Target]:
    """The targets written by :func:`write_targets`."""
    return [Target(**item) for item in json.loads(Path(path).read_text())]


def client_parser(description: str) -> argparse.ArgumentParser:
    """The options every client script takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--targets", required=True, help="JSON list of targets (bench_common)")
    parser.add_argument("--key", required=True, help="private key file (no passphrase)")
    parser.add_argument("--known-hosts", required=True, help="known_hosts file to check against")
    parser.add_argument("--command", default="uptime", help="command to run on every host")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds per connection and command"
    )
    return parser


def emit(name: str, stdout: str, error: str | None) -> None:
    """Print one host's result as a JSON line (``error`` is None when the command succeeded)."""
    line = json.dumps({"host": name, "ok": error is None, "stdout": stdout, "error": error})
    sys.stdout.write(line + "\n")


def replace_section(path: Path, name: str, body: str) -> None:
    """Write ``body`` as section ``name`` of a results file, keeping the other scripts' sections.

    Sections are delimited by HTML comments, invisible in rendered Markdown.
    """
    start, end = f"<!-- section: {name} -->\n", f"<!-- end: {name} -->\n"
    block = start + body.rstrip("\n") + "\n" + end
    text = path.read_text() if path.exists() else ""
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text + ("\n" if text else "") + block
    path.write_text(text)
