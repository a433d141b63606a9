"""One host: connecting to it, running operations on it, nothing about the fleet.

Nothing here uses multiprocessing, events or the CLI (see the README's "How it works").
"""

from hostops.host._deferred import defer

# paramiko's config module imports invoke at its top, for ``Match exec`` in paramiko's
# own SSHConfig, which hostops does not use (hostops.host.ssh_config reads ssh_config).
# Loading invoke (asyncio, unittest.mock, a vendored YAML) is ~70 ms of CPU, half of
# importing paramiko, on every run: it now loads only if something uses it.
defer("invoke")
