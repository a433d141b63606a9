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
"""

from hostops.host.ssh.connection import SshConnection
from hostops.host.ssh.context import SshContext

__all__ = ["SshConnection", "SshContext"]
