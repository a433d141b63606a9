"""What hostops hands a login shell runs alike under sh, bash, tcsh and fish (words with
!, backslashes, newlines and quotes come through intact), and leads a process group of
its own: with setsid, else with Perl's POSIX::setsid."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hostops.host.ssh.shell import login_command

SHELLS = ["/bin/sh", "/bin/bash", "/usr/bin/tcsh", "/usr/bin/fish"]
WORDS = ["plain", "it's", "two\nlines", "back\\slash", "bang! !!", "50% %41", "é ü", "\x1e"]


@pytest.mark.parametrize("shell", SHELLS)
def test_every_login_shell_runs_the_script_with_its_words_intact(shell: str) -> None:
    if not Path(shell).exists():
        pytest.fail(f"{shell} is missing: ./scripts/test installs it (apt-get)")
    script = 'for w in "$@"; do printf "[%s]" "$w"; done; echo "$$" >/dev/null'
    r = subprocess.run(
        [shell, "-c", login_command(script, *WORDS)], capture_output=True, text=True, check=False
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "".join(f"[{w}]" for w in WORDS)


def _group_leader(path: str) -> tuple[str, str]:
    script = 'echo "$$ $(ps -o pgid= -p $$)"'
    r = subprocess.run(
        ["/bin/sh", "-c", login_command(script, own_group=True)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PATH": path},
    )
    pid, pgid = r.stdout.split()
    return pid, pgid


def test_the_script_leads_a_process_group_of_its_own(tmp_path: Path) -> None:
    # Started by us, sh is in pytest's process group: as under dropbear.
    pid, pgid = _group_leader(os.environ["PATH"])
    assert pid == pgid
    # No setsid on the host (BSDs, macOS): Perl's POSIX::setsid does it.
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("perl", "ps", "awk"):
        found = shutil.which(tool)
        assert found, f"{tool} is missing"
        (tools / tool).symlink_to(found)
    assert shutil.which("setsid", path=str(tools)) is None
    pid, pgid = _group_leader(str(tools))
    assert pid == pgid
