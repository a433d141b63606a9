"""Shared helpers for the integration tests (real sshd fleet, real CLI in a subprocess)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostops.testing import SshdFleet

pytestmark = pytest.mark.integration


@pytest.fixture
def fleet20(sshd_fleet: SshdFleet, tmp_path: Path) -> tuple[SshdFleet, Path]:
    """The first 20 fleet hosts as an inventory file (known_hosts and key from the fleet)."""
    inv = sshd_fleet.write_inventory(tmp_path / "inv20.yaml", sshd_fleet.hosts[:20])
    return sshd_fleet, inv
