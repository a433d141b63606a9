"""Command-line settings that override what the inventory says, for every host."""

from __future__ import annotations

import dataclasses
import os

from hostops.models import Host


def apply_overrides(
    hosts: list[Host],
    *,
    user: str | None = None,
    port: int | None = None,
    identity_files: tuple[str, ...] = (),
    known_hosts: str | None = None,
) -> list[Host]:
    """Return ``hosts`` with each explicitly given setting replacing the inventory's.

    ``None`` (or an empty tuple) means "not given": a built-in default never
    overrides the inventory.
    """
    changes: dict[str, object] = {}
    if user is not None:
        changes["user"] = user
    if port is not None:
        changes["port"] = port
    if identity_files:
        changes["identity_files"] = tuple(os.path.expanduser(p) for p in identity_files)
    if known_hosts is not None:
        changes["known_hosts"] = os.path.expanduser(known_hosts)
    if not changes:
        return hosts
    return [dataclasses.replace(h, **changes) for h in hosts]
