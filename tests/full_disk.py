"""A small file system that is full, for the tests of what a full disk does (as root)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def full_disk(where: Path) -> Iterator[Path]:
    """Mount a 32 KiB tmpfs (mode 0700) on ``where``, fill it, yield it, unmount it."""
    where.mkdir(parents=True, exist_ok=True, mode=0o700)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=32k,mode=0700", "tmpfs", str(where)], check=True
    )
    try:
        fd = os.open(where / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            with contextlib.suppress(OSError):  # ENOSPC: full
                while True:
                    os.write(fd, b"x" * 4096)
        finally:
            os.close(fd)
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)
