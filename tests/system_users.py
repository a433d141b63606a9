"""An ordinary (non-root) login for the integration tests that need one."""

from __future__ import annotations

import getpass
import os
import pwd
import subprocess

TEST_USER = "hostops-test"


def ensure_user(name: str, shell: str = "/bin/bash") -> str:
    """Create the local user ``name`` with login shell ``shell`` unless it exists (then
    give it that shell), as root; return the name."""
    try:
        if pwd.getpwnam(name).pw_shell != shell:
            subprocess.run(["usermod", "--shell", shell, name], check=True)
    except KeyError:
        # Password '*': no password login, but not "locked" (sshd refuses locked accounts).
        subprocess.run(
            ["useradd", "--create-home", "--shell", shell, "--password", "*", name],
            check=True,
        )
    if os.path.basename(shell) == "fish":
        _fish_directories(name)
    return name


def _fish_directories(name: str) -> None:
    """fish makes its directories at its first start in a home, and two first starts at
    once race (the loser warns "File exists" on stderr): make them now, as an account
    in use has them (the test fleet's hosts share the home, real hosts do not)."""
    user = pwd.getpwnam(name)
    for relative in (".config/fish", ".local/share/fish"):
        path = user.pw_dir
        for part in relative.split("/"):
            path = os.path.join(path, part)
            if not os.path.isdir(path):
                os.mkdir(path, 0o755)
                os.chown(path, user.pw_uid, user.pw_gid)


def ordinary_user() -> str:
    """A user without root's rights: ``hostops-test`` (created if missing) when we are
    root, otherwise ourselves."""
    if os.geteuid() != 0:
        return getpass.getuser()
    return ensure_user(TEST_USER)


def users() -> list[str]:
    """Root and an ordinary user when we are root; otherwise ourselves (an ordinary user)."""
    return ["root", ordinary_user()] if os.geteuid() == 0 else [ordinary_user()]


CHATTY_USER = "hostops-chatty"


def chatty_user() -> str:
    """A user whose ``~/.bashrc`` prints a banner, as on many real servers (root only:
    it creates the user). Its shell's output reaches every non-interactive session that
    sshd starts through bash when SHLVL < 2 (a command, an external sftp-server)."""
    home = pwd.getpwnam(ensure_user(CHATTY_USER)).pw_dir
    with open(os.path.join(home, ".bashrc"), "w") as f:
        f.write('echo "Welcome to $(hostname), a friendly server"\n')
    return CHATTY_USER
