"""Name hostops's own processes, so ``ps -o comm`` and ``pgrep`` tell them apart."""

from __future__ import annotations

import ctypes
import sys

_PR_SET_NAME = 15


def set_process_name(name: str) -> None:
    """Set the kernel's name (comm, 15 bytes) of this process; a no-op outside Linux."""
    if not sys.platform.startswith("linux"):
        return
    try:
        # CDLL(None): symbols already loaded (libc among them); find_library would fork ldconfig.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError):
        pass  # naming is a convenience; never fail a run over it
