"""The click that typer uses: recent typer vendors its own copy (``typer._click``, which
exports little at its top), older releases use the ``click`` package. What hostops
uses of click beyond typer's API (the current context, the shell completion classes)
is found through it, by click's module names, which both have.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import typer

_PACKAGE = typer.BadParameter.__module__.rpartition(".")[0]  # typer raises click's errors


def click(module: str) -> ModuleType:
    """click's ``module`` (``core``, ``exceptions``, ``globals``, ``shell_completion``)."""
    return importlib.import_module(f"{_PACKAGE}.{module}")
