"""``python -m hostops``."""

from hostops.cli.entry import console

console()
