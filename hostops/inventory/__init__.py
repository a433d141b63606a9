"""Inventories: which hosts to run on, and how to reach each of them."""

from __future__ import annotations

from hostops.inventory.native import load_inventory
from hostops.inventory.overrides import apply_overrides

__all__ = ["apply_overrides", "load_inventory"]
