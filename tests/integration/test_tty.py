"""hostops as a person sees it: run in a real terminal (tmux) against the fleet, the
screen read back with ``capture-pane``. Progress line, gathered view, hostile output
made visible, and Ctrl-C typed at the keyboard."""

from __future__ import annotations

import secrets
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import hostops_argv, sleep_pids, sleep_tag, wait_for


class Terminal:
    """A tmux server of our own (its own socket) with one 120x40 window."""

    def __init__(self, name: str) -> None:
        if shutil.which("tmux") is None:  # scripts/test installs it: missing is a failure
            raise AssertionError("tmux is not installed (scripts/test installs it)")
        self._sock = name

    def _tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self._sock, *args], capture_output=True, text=True, check=True
        ).stdout

    def start(self, command: str) -> None:
        # The shell stays after hostops ends, so the screen can be read, and says how it
        # ended. bash, as a terminal's shell: it outlives a Ctrl-C its child handled.
        script = f"{command}; echo EXIT=$?; sleep 600"
        self._tmux("new-session", "-d", "-x", "120", "-y", "40", "bash", "-c", script)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-J")

    def styled(self) -> str:
        """The screen with its attributes (bold, colours) as escape sequences."""
        return self._tmux("capture-pane", "-p", "-J", "-e")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", *keys)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self._sock, "kill-server"], capture_output=True, check=False)


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    term = Terminal(f"hostops-test-{secrets.token_hex(4)}")
    try:
        yield term
    finally:
        term.close()


def _hostops(*args: str) -> str:
    """The real CLI's command line, for the shell in the terminal."""
    return shlex.join(hostops_argv(*args))


def test_gather_on_a_terminal_with_a_progress_line_while_hosts_run(
    sshd_fleet: SshdFleet, tmp_path: Path, terminal: Terminal
) -> None:
    hosts = sshd_fleet.hosts[:12]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    slow = "|".join(f"*' {h.address} '*" for h in hosts[10:])
    cmd = f'case "$SSH_CONNECTION" in {slow}) sleep 4;; esac; uname -s'
    terminal.start(_hostops("run", cmd, "--hosts", str(inv), "-o", "gather"))
    assert wait_for(lambda: "waiting for host[11-12]" in terminal.screen(), timeout=30), (
        terminal.screen()
    )
    progress = next(line for line in terminal.screen().splitlines() if "waiting for" in line)
    assert progress.startswith("hostops: 10/12 done, 2 running, ")
    assert wait_for(lambda: "EXIT=" in terminal.screen(), timeout=30)
    screen = terminal.screen()
    assert "EXIT=0" in screen
    assert "host[01-12] (12)\n----------------\nLinux\n" in screen
    assert "waiting for" not in screen  # the progress line is gone: nothing is left over it
    assert "hostops: 12 hosts in " in screen and "12 ok" in screen


def test_hostile_output_is_shown_not_obeyed_on_a_terminal(
    sshd_fleet: SshdFleet, tmp_path: Path, terminal: Terminal
) -> None:
    hosts = sshd_fleet.hosts[:2]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    # Clear the screen, move the cursor home and retitle the window: all made visible.
    cmd = r"echo before; printf '\033[2J\033[Hgotcha \033]0;owned\007\n'; echo after"
    terminal.start(_hostops("run", cmd, "--hosts", str(inv)))
    assert wait_for(lambda: "EXIT=" in terminal.screen(), timeout=30)
    screen = terminal.screen()
    assert "EXIT=0" in screen
    for h in ("host01", "host02"):
        assert f"{h} | before" in screen and f"{h} | after" in screen
        assert f"{h} | ^[[2J^[[Hgotcha ^[]0;owned^G" in screen


def test_ctrl_c_typed_at_the_terminal_stops_everything(
    sshd_fleet: SshdFleet, tmp_path: Path, terminal: Terminal
) -> None:
    hosts = sshd_fleet.hosts[:6]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    tag = sleep_tag(4101)
    # a grandchild too: the whole remote process group must go
    cmd = f"sh -c 'sleep {tag}' & sleep {tag}; wait"
    terminal.start(_hostops("run", cmd, "--hosts", str(inv)))
    assert wait_for(lambda: len(sleep_pids(tag)) == 2 * len(hosts), timeout=30)
    terminal.keys("C-c")
    assert wait_for(lambda: "EXIT=" in terminal.screen(), timeout=60), terminal.screen()
    screen = terminal.screen()
    assert "EXIT=130" in screen
    assert "stopping 6 running host(s): host[01-06]" in screen
    assert "6 interrupted" in screen
    assert wait_for(lambda: not sleep_pids(tag), timeout=15), "remote commands survived Ctrl-C"


def test_live_gather_is_redrawn_as_hosts_finish(
    sshd_fleet: SshdFleet, tmp_path: Path, terminal: Terminal
) -> None:
    hosts = sshd_fleet.hosts[:12]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    slow = "|".join(f"*' {h.address} '*" for h in hosts[10:])
    cmd = f'case "$SSH_CONNECTION" in {slow}) sleep 4;; esac; echo same'
    terminal.start(_hostops("run", cmd, "--hosts", str(inv), "-o", "gather", "--live"))
    # Before the end: the ten fast hosts are already folded on screen.
    assert wait_for(lambda: "host[01-10] (10)" in terminal.screen(), timeout=30), terminal.screen()
    assert "EXIT=" not in terminal.screen()
    assert wait_for(lambda: "EXIT=" in terminal.screen(), timeout=30)
    screen = terminal.screen()
    assert "EXIT=0" in screen and "host[01-12] (12)" in screen
    assert "host[01-10] (10)" not in screen  # redrawn in place, not appended


def test_c1_and_bidi_controls_are_shown_and_gather_headers_cannot_be_forged(
    sshd_fleet: SshdFleet, tmp_path: Path, terminal: Terminal
) -> None:
    hosts = sshd_fleet.hosts[:2]
    inv = sshd_fleet.write_inventory(tmp_path / "inv.yaml", hosts)
    # C1 CSI (U+009B) "2J" would clear the screen on VTE; RLO reverses what follows. Then a
    # copy of the header gather would print for host02.
    cmd = (
        r"echo before; printf '\302\2332J\302\2350;owned\302\234 \342\200\256gnp.exe\n';"
        r" printf -- '---------------\nhost02 (1)\n---------------\n'"
    )
    terminal.start(_hostops("run", cmd, "--hosts", str(inv), "--limit", "host01", "-o", "gather"))
    assert wait_for(lambda: "EXIT=" in terminal.screen(), timeout=30)
    screen = terminal.screen()
    assert "EXIT=0" in screen and "before" in screen
    assert "\\u009b2J\\u009d0;owned\\u009c \\u202egnp.exe" in screen
    # With attributes (-e): the real header is bold, the copy is not.
    styled = terminal.styled()
    head, rest = styled.split("host01 (1)", 1)
    assert head.rfind("\x1b[1m") > head.rfind("\x1b[0m")  # bold at the real header
    copy = rest.split("host02 (1)", 1)[0]
    assert "\x1b[0m" in copy and "\x1b[1m" not in copy.split("\x1b[0m")[-1]  # not at the copy
