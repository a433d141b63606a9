"""``python -m hostops``."""

from hostops.entry import console

console()
