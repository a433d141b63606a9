"""OpenSSH's own client as the reference for ssh_config: ``ssh -G`` for what it resolves,
and ``ssh -v`` with a recording ``$SHELL`` for the tokens ``ssh -G`` prints unexpanded
(IdentityFile and CertificateFile paths, ProxyCommand).

No network: ``ssh -G`` connects nowhere, and ``ssh -v`` is always given a proxy
command (the recorder, run as ``$SHELL``), which records and exits.

Relative ``Include`` paths of a ``-F`` file start from ``~/.ssh`` of the user that
runs ssh, and OpenSSH takes ``~`` from the password database, not ``$HOME``; so
when the tests run as root, ssh runs as the ordinary test user, whose home we may
write a scratch directory into.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from system_users import ordinary_user

from hostops.host.ssh_config import Local

_RECORDER = """#!/bin/sh
# A shell for ssh: records the proxy command ssh gives it, runs anything else (Match exec).
case "$2" in
  "exec "*) printf '%s' "$2" > "$HOSTOPS_RECORD"; exit 1 ;;
  *) exec /bin/sh -c "$2" ;;
esac
"""
_IDENTITY = re.compile(r"^debug1: identity file (.*) type -?\d+$")
_CERTIFICATE = re.compile(r"^debug1: certificate file (.*) type -?\d+$")


@dataclass
class Oracle:
    """Runs ssh as ``user`` (home ``home``), with the environment ``environ`` exactly."""

    user: str
    home: str
    scratch: Path  # a directory under ~/.ssh of that user: relative Includes can reach it
    environ: dict[str, str] = field(default_factory=dict)

    @property
    def relative(self) -> str:
        """``scratch`` relative to ~/.ssh (what a relative Include names)."""
        return os.path.relpath(self.scratch, os.path.join(self.home, ".ssh"))

    def local(self) -> Local:
        """The same user, for hostops's resolver."""
        entry = pwd.getpwnam(self.user)
        return Local(self.user, entry.pw_uid, self.home, socket.gethostname())

    def _run(self, args: list[str], environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """``ssh ARGS`` as the oracle's user, with exactly ``environ``."""
        env = ["env", "-i", *(f"{k}={v}" for k, v in environ.items())]
        me = pwd.getpwuid(os.getuid()).pw_name
        prefix = [] if self.user == me else ["runuser", "-u", self.user, "--"]
        return subprocess.run(
            [*prefix, *env, "ssh", *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=60,
        )

    def ssh_g(
        self, config: Path, host: str, options: list[str] = ()
    ) -> tuple[int, dict[str, list[str]], str]:
        """(exit status, keyword -> values, stderr) of ``ssh -G -F CONFIG [-o OPT…] HOST``."""
        given = [a for o in options for a in ("-o", o)]
        done = self._run(["-G", "-F", str(config), *given, host], self.environ)
        values: dict[str, list[str]] = {}
        for line in done.stdout.splitlines():
            key, _, value = line.partition(" ")
            values.setdefault(key, []).append(value)
        return done.returncode, values, done.stderr

    def used_paths(
        self, config: Path, host: str, options: list[str], add_proxy: bool
    ) -> tuple[list[str], list[str], str | None]:
        """(identity file lines, certificate file lines, the proxy command given to the shell)
        of ``ssh -v``: the values after OpenSSH expanded their tokens."""
        record = self.scratch / f"record-{uuid.uuid4().hex}"
        env = dict(
            self.environ, SHELL=str(self.scratch / "recorder.sh"), HOSTOPS_RECORD=str(record)
        )
        extra = ["-o", "ProxyCommand=recorded"] if add_proxy else []
        given = [a for o in options for a in ("-o", o)]
        args = ["-v", "-F", str(config), "-o", "BatchMode=yes", *extra, *given, host, "true"]
        done = self._run(args, env)
        identities = [m[1] for m in map(_IDENTITY.match, done.stderr.splitlines()) if m]
        certificates = [m[1] for m in map(_CERTIFICATE.match, done.stderr.splitlines()) if m]
        proxy = record.read_text() if record.exists() else None
        record.unlink(missing_ok=True)
        return identities, certificates, proxy


@contextmanager
def oracle() -> Iterator[Oracle]:
    """An Oracle with a scratch directory in that user's ~/.ssh, removed afterwards."""
    user = ordinary_user() if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
    entry = pwd.getpwnam(user)
    ssh_dir = Path(entry.pw_dir) / ".ssh"
    if not ssh_dir.exists():
        ssh_dir.mkdir(mode=0o700)
        os.chown(ssh_dir, entry.pw_uid, entry.pw_gid)
    scratch = ssh_dir / f"hostops-oracle-{uuid.uuid4().hex[:12]}"
    scratch.mkdir()
    os.chown(scratch, entry.pw_uid, entry.pw_gid)
    (scratch / "recorder.sh").write_text(_RECORDER)
    (scratch / "recorder.sh").chmod(0o755)
    environ = {
        "HOME": entry.pw_dir,
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
        "SHELL": "/bin/sh",
        "USER": user,
        "LOGNAME": user,
        "ORACLE_VAR": "from-env",
    }
    try:
        yield Oracle(user, entry.pw_dir, scratch, environ)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
