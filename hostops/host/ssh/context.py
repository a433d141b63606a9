"""What the SSH sessions of one process share: parsed known_hosts files and keys, secrets,
the jump host connections.

Making one imports no paramiko (every worker makes one; a run of ``connection: local``
hosts never loads paramiko): the SSH modules are imported when first needed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hostops.credentials import Secrets
from hostops.host.ssh.jump import JumpPool
from hostops.host.ssh_config import match_pattern
from hostops.models import Host, RunOptions

if TYPE_CHECKING:
    import paramiko

    from hostops.host.ssh.hostkeys import KnownHosts


@dataclass
class SshContext:
    """Per-process state shared by its session threads (thread-safe): parsed known_hosts
    files and private keys, the run's secrets, and the connections to jump hosts.

    One lives in each worker process, so the cost of a run stays linear in the
    number of hosts: each known_hosts file and each private key is parsed once.
    """

    options: RunOptions
    notify: Callable[[str], None]  # warnings about files, not hosts
    secrets: Secrets = field(default_factory=Secrets)
    known_hosts_loads: int = 0
    key_loads: int = 0
    jumps: JumpPool = field(default_factory=JumpPool)
    _known: dict[str, KnownHosts] = field(default_factory=dict)
    _keys: dict[str, paramiko.PKey | str] = field(default_factory=dict)
    _sent: dict[tuple[tuple[str, ...], tuple[str, ...]], dict[str, str]] = field(
        default_factory=dict
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def host_keys(self, path: str) -> KnownHosts:
        """The parsed known_hosts file at ``path`` (parsed on first use; its unreadable
        and unsupported lines reported once)."""
        from hostops.host.ssh.hostkeys import KnownHosts

        with self._lock:
            keys = self._known.get(path)
            if keys is None:
                keys = KnownHosts.load(path)
                self.known_hosts_loads += 1
                self._known[path] = keys
                if keys.unreadable:
                    self.notify(
                        f"cannot read known_hosts {path}: {keys.unreadable} (read as empty, as ssh does)"
                    )
                if keys.skipped:
                    lines = ", ".join(map(str, keys.skipped[:10]))
                    self.notify(f"{path}: ignored unreadable line(s) {lines}")
            return keys

    def private_key(self, path: str) -> paramiko.PKey | str:
        """The key at ``path``, or a one-line reason why it cannot be used."""
        from hostops.host.ssh.auth import load_key

        with self._lock:
            if path not in self._keys:
                self.key_loads += 1
                self._keys[path] = load_key(path, self.secrets.key_passphrase)
            return self._keys[path]

    def sent_environment(self, host: Host) -> Mapping[str, str]:
        """What SendEnv and SetEnv send to ``host`` (:func:`sent_environment`), worked
        out once per SendEnv/SetEnv pair: copying and matching the whole local
        environment cost every connection ~37 us with 35 variables
        (Debian's ssh_config sends LANG LC_* to every host), and a run's local
        environment does not change while it lasts."""
        wanted = (host.ssh.send_env, host.ssh.set_env)
        with self._lock:
            sent = self._sent.get(wanted)
            if sent is None:
                sent = sent_environment(host, self.secrets.scrubbed_environment())
                self._sent[wanted] = sent
            return sent

    def close(self) -> None:
        """Close the jump host connections."""
        self.jumps.close()

    def record_host_key(
        self, path: str, name: str, key_type: str, blob: bytes, *, hashed: bool = False
    ) -> None:
        """accept-new: append ``name``'s key to ``path`` (see append_host_key; ``hashed``:
        HashKnownHosts) and know it. Raises OSError when the file cannot be written."""
        from hostops.host.ssh.hostkeys import append_host_key

        append_host_key(path, name, key_type, blob, hashed=hashed)
        with self._lock:
            known = self._known.get(path)
            if known is not None:
                known.add(name, key_type, blob)


def sent_environment(host: Host, local: Mapping[str, str]) -> dict[str, str]:
    """What SendEnv and SetEnv send: the local variables (never hostops's secrets) whose
    names a SendEnv pattern matches, then SetEnv's values. The server keeps only what
    its AcceptEnv allows, as with ssh."""
    sent = {
        name: value
        for name, value in local.items()
        if any(match_pattern(name, pattern) for pattern in host.ssh.send_env)
    }
    sent.update(dict(item.split("=", 1) for item in host.ssh.set_env))
    return sent
