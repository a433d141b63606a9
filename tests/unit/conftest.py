"""Shared helpers for the unit tests: no network, no sshd, no hostops subprocesses."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write_inv(tmp_path: Path) -> Callable[[str], Path]:
    """Write a YAML text (dedented) to a fresh file and return its path."""
    counter = iter(range(1_000_000))

    def write(text: str, name: str | None = None) -> Path:
        path = tmp_path / (name or f"inv{next(counter)}.yaml")
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
