"""The README shows the one table of deliberate differences from Ansible that the
differential tests accept (hostops.inventory.differences)."""

from __future__ import annotations

from pathlib import Path

from hostops.inventory.differences import DIFFERENCES, KEYS, markdown_table

README = Path(__file__).parents[2] / "README.md"


def test_the_readme_shows_every_row_of_the_table() -> None:
    assert markdown_table() in README.read_text()
    assert len(KEYS) == len(DIFFERENCES)  # one row per key


def test_every_row_says_what_each_side_does() -> None:
    for row in DIFFERENCES:
        assert row.ansible.strip() and row.hostops.strip(), row.key
        assert "|" not in row.ansible + row.hostops, row.key  # one table cell each
