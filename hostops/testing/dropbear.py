"""A fleet of real dropbear SSH servers (routers, OpenWrt, embedded boards, initramfs)
on loopback, beside the OpenSSH one: same inventory, known_hosts and client key.

dropbear differs where it matters to hostops: a session's command does not start in
a process group of its own, SFTP is the external ``sftp-server``, and it has no
``AuthorizedKeysFile``: it reads ``~USER/.ssh/authorized_keys``, so the fleet logs in
as a user of its own whose file it writes (as root: tests create that user).
"""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path
from typing import Any

from hostops.testing.fleet import FleetHost, SshdFleet

DROPBEAR = "/usr/sbin/dropbear"
DROPBEARKEY = "/usr/bin/dropbearkey"


class DropbearMissing(RuntimeError):
    """dropbear is not installed: tests need it (apt-get install dropbear-bin)."""


class DropbearFleet(SshdFleet):
    """N dropbear daemons; ``user`` (required: an account whose home this fleet may
    write ``.ssh/authorized_keys`` in) is who logs in. Use as a context manager."""

    def __init__(self, root: str | os.PathLike[str], count: int, *, user: str, **kw: Any) -> None:
        if not (os.path.exists(DROPBEAR) and os.path.exists(DROPBEARKEY)):
            raise DropbearMissing(f"{DROPBEAR} not found: install dropbear-bin")
        kw.setdefault("name_format", "db{:02d}")
        super().__init__(root, count, user=user, **kw)

    def _host_key(self, host: FleetHost) -> Path:
        if host is self.hosts[0]:
            self._authorize()
        key = host.directory / "dropbear_ed25519_host_key"
        if not key.exists():
            subprocess.run(
                [DROPBEARKEY, "-t", "ed25519", "-f", str(key)], check=True, capture_output=True
            )
        public = subprocess.run(
            [DROPBEARKEY, "-y", "-f", str(key)], check=True, capture_output=True, text=True
        ).stdout
        line = next(x for x in public.splitlines() if x.startswith("ssh-"))
        host.host_key_line = " ".join(line.split()[:2])
        return key

    def _argv(self, host: FleetHost, key: Path) -> list[str]:
        # -F foreground, -E log to stderr, -s keys only, -m no motd
        listen, pid = f"{host.address}:{host.port}", str(host.directory / "pid")
        return [DROPBEAR, "-F", "-E", "-s", "-m", "-r", str(key), "-p", listen, "-P", pid]

    def _authorize(self) -> None:
        """The client key in ``~USER/.ssh/authorized_keys`` (added once, owner's modes:
        dropbear refuses a file others could write)."""
        entry = pwd.getpwnam(self.user)
        ssh_dir = Path(entry.pw_dir) / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        keys = ssh_dir / "authorized_keys"
        key = Path(f"{self.client_key}.pub").read_text()
        if not keys.exists() or key not in keys.read_text():
            with open(keys, "a") as f:
                f.write(key)
        for path in (ssh_dir, keys):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        keys.chmod(0o600)
