"""Remote commands that hold until the test lets them go: a test catches hosts in flight
by what they say, not by a sleep guessed long enough to be caught in, and lets them end
as soon as it has done what it does to them."""

from __future__ import annotations

from pathlib import Path


def held(directory: Path) -> str:
    """A shell line that says it started (a ``started-PID`` file in ``directory``) and
    waits until :func:`release` (120 s at most, should the test fail before)."""
    return (
        f"touch {directory}/started-$$; i=0; "
        f"until [ -e {directory}/release ] || [ $i -ge 1200 ]; do sleep 0.1; i=$((i+1)); done"
    )


def started(directory: Path) -> int:
    """How many :func:`held` commands have started."""
    return len(list(directory.glob("started-*")))


def release(directory: Path) -> None:
    """Let every :func:`held` command of ``directory`` go on."""
    (directory / "release").touch()
