"""A fleet of real OpenSSH ``sshd`` daemons on loopback, for tests, benchmarks and demos.

``SshdFleet`` starts N daemons on distinct 127.x.y.z addresses with generated
host keys and one generated client key, and writes a matching inventory and
known_hosts file. As a command: ``python -m hostops.testing up 20``.
As pytest fixtures: ``pytest_plugins = ["hostops.testing.pytest_plugin"]``.
"""

from __future__ import annotations

from hostops.testing.fleet import FleetHost, LogTail, SshdFleet, SshdMissing, free_port

__all__ = ["FleetHost", "LogTail", "SshdFleet", "SshdMissing", "free_port"]
