"""SSH with paramiko: the only package that imports it (its private API only in _paramiko.py).

connection.py   SshConnection: TCP or a jump host's tunnel, handshake, host key check, login
context.py      SshContext: what the sessions of one process share (known_hosts, keys, jumps)
hostkeys.py     known_hosts as OpenSSH reads it, fingerprints, accept-new recording
trust.py        whether to trust a host's key: known_hosts files, HostKeyAlias, host certificates
certificates.py OpenSSH certificates read and checked (host certificates)
proxy.py        ProxyCommand: the user's shell over a socket pair, stopped with the connection
auth.py         keys, agent, default keys, password, keyboard-interactive
jump.py         jump host chains: one login per chain per process, direct-tcpip tunnels
command.py      SshCommand: process group, sudo, forwarded stdin, keepalives, kills
failures.py     one-line reasons for paramiko's and the network's exceptions
_paramiko.py    every use of paramiko internals (checked by a canary test)

SshContext (context.py) loads without paramiko; SshConnection loads it, on first use of
the name (PEP 562): a worker of a run of ``connection: local`` hosts never does.
"""

import typing

from hostops.host.ssh.context import SshContext

if typing.TYPE_CHECKING:
    from hostops.host.ssh.connection import SshConnection


def __getattr__(name: str) -> object:
    if name == "SshConnection":
        from hostops.host.ssh.connection import SshConnection

        return SshConnection
    raise AttributeError(f"module 'hostops.host.ssh' has no attribute {name!r}")


__all__ = ["SshConnection", "SshContext"]
