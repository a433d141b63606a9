"""preload(): what the engine imports before forking its workers, so that none of them
imports it again at its first connection."""

from __future__ import annotations

import json
import subprocess
import sys

# In a fresh interpreter: preload, then what a worker's first connection does before the
# handshake (resolve the address with socket.getaddrinfo, as socket.create_connection
# does); print the modules that step imported.
_SCRIPT = """
import json, socket, sys
from hostops.host.client import preload
from hostops.models import Host
preload([Host("web01", "127.0.0.1")])
before = set(sys.modules)
socket.getaddrinfo("127.0.0.1", 22, 0, socket.SOCK_STREAM)
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def test_a_first_connection_imports_nothing_after_preload() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == []
