"""The public API is what ``hostops`` exports, exactly, and every export is documented:
in the README's table and by its docstring (the idea of httpx's test_exported_members)."""

from __future__ import annotations

import inspect
import re
import types
from pathlib import Path

import pytest

import hostops

README = Path(__file__).parents[2] / "README.md"


def _public_names() -> set[str]:
    """Every name ``import hostops`` offers (its exports load on first use: ``dir``) that
    is not private and not a submodule."""
    return {
        name
        for name in dir(hostops)
        if not name.startswith("_") and not isinstance(getattr(hostops, name), types.ModuleType)
    } | {"__version__"}


def test_every_export_resolves_to_what_its_module_defines() -> None:
    """The lazy exports (PEP 562) name real objects, and a name hostops does not export
    is an AttributeError, as for any module."""
    for name in hostops.__all__:
        value = getattr(hostops, name)
        assert not isinstance(value, types.ModuleType), name
    assert hostops.run.__module__ == "hostops.api"
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = hostops.nothing_here  # type: ignore[attr-defined]


def test_all_is_exactly_the_public_names_sorted() -> None:
    assert hostops.__all__ == sorted(_public_names())


def test_the_readme_documents_every_export_and_nothing_else() -> None:
    text = README.read_text()
    section = text[text.index("## Python API") : text.index("## How it works")]
    documented = set()
    for row in re.findall(r"^\| (`.*?) \|", section, re.MULTILINE):
        documented |= set(re.findall(r"`([A-Za-z_]\w*)", row))
    assert documented == set(hostops.__all__)


def _methods(cls: type) -> list[tuple[str, object]]:
    """The public methods a class defines itself (not properties: attributes to read)."""
    found = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (classmethod, staticmethod)):
            found.append((name, value.__func__))
        elif inspect.isfunction(value):
            found.append((name, value))
    return found


def test_every_exported_callable_has_a_docstring() -> None:
    missing = []
    for name in hostops.__all__:
        value = getattr(hostops, name)
        if not callable(value):
            continue
        if not (value.__doc__ or "").strip():
            missing.append(name)
        if inspect.isclass(value) and value.__module__.startswith("hostops"):
            missing += [f"{name}.{m}" for m, f in _methods(value) if not (f.__doc__ or "").strip()]
    assert missing == []


def test_functions_take_options_by_keyword_only() -> None:
    """One dialect: the natural positional arguments, then keyword-only options."""
    positional = {
        "run": ["hosts", "command"],
        "run_operation": ["hosts", "operation"],
        "play": ["playbook", "hosts"],
        "connect": ["host"],
        "load_inventory": ["path"],
        "secrets_from_environment": ["hosts"],
        "exit_code_for": ["outcome"],
    }
    for name, expected in positional.items():
        parameters = inspect.signature(getattr(hostops, name)).parameters.values()
        kinds = [p.name for p in parameters if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        assert kinds == expected, name
    for name in ("run", "run_operation", "play"):
        assert "lock" not in inspect.signature(getattr(hostops, name)).parameters
        assert "record" not in inspect.signature(getattr(hostops, name)).parameters
