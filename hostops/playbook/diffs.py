"""What a template would change on a host: its current content read with a command,
compared with the rendered one as a unified diff (``--check``, ``--diff``). Vaulted
values in it are masked (hostops.vault.mask): the diff is shown and may be recorded."""

from __future__ import annotations

import difflib
import shlex

from hostops.models import Status
from hostops.operations import Command, Outcome, Upload
from hostops.vault import mask

_MISSING = 3  # exit code of read_command when the file does not exist
_NOT_A_FILE = 4


def read_command(upload: Upload) -> Command:
    """A command printing the current content of the upload's destination (as the user
    who will install it): exit 3 when there is none yet, 4 when it is not a file."""
    path = shlex.quote(upload.dest)
    text = (
        f"if [ -d {path} ]; then exit {_NOT_A_FILE}; fi\n"
        f"if [ ! -e {path} ]; then exit {_MISSING}; fi\n"
        f"exec cat -- {path}"
    )
    return Command(text, upload.sudo, upload.timeout)


def unified(upload: Upload, current: Outcome, content: str) -> str:
    """The diff from what ``read_command`` found (``current``) to ``content``: empty when
    they are the same; a one-line note when the current content could not be read."""
    dest = upload.dest
    if current.status is Status.FAILED and current.exit_code == _MISSING:
        before, old = "/dev/null", ""
    elif current.status is Status.FAILED and current.exit_code == _NOT_A_FILE:
        return f"(no diff: {dest} is a directory)\n"
    elif current.status is not Status.OK:
        said = current.stderr.decode("utf-8", "replace").strip().splitlines()
        why = said[-1] if said else current.error or current.status.value
        return f"(no diff: cannot read {dest}: {why})\n"
    else:
        before, old = f"{dest} (before)", current.stdout.decode("utf-8", "replace")
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        content.splitlines(keepends=True),
        fromfile=before,
        tofile=f"{dest} (after)",
    )
    return mask(
        "".join(
            line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
            for line in lines
        )
    )
