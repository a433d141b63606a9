"""The oldest Python the runner (hostops.host.ssh.runner_program) promises to run on.

This machine's image carries pyenv's 3.6.15; where it does not, the tests that start
the runner with it use this interpreter instead (they still run, never skip), and the
grammar check of test_runner_frames (ast with feature_version 3.6) holds either way.
"""

from __future__ import annotations

import sys
from pathlib import Path

_PY36 = Path("/root/.pyenv/versions/3.6.15/bin/python3.6")

OLDEST = str(_PY36) if _PY36.exists() else sys.executable
