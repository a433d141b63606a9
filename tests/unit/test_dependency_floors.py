"""The runtime dependencies' floors: the ones CI tests (.ci/min-versions.txt) are the ones
pyproject admits, and none admits a release with a known hole in what hostops relies on."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest

import hostops.playbook.template as tpl

ROOT = Path(__file__).resolve().parents[2]


# Extras whose floors CI tests too (scripts/test-min-versions installs them at the floor).
TESTED_EXTRAS = ('extra == "cluster"',)


def _floors() -> dict[str, str]:
    """From the installed metadata (pyproject's dependencies, as pip read them): the
    runtime ones and those of :data:`TESTED_EXTRAS`."""
    deps = [
        d
        for d in importlib.metadata.requires("hostops") or []
        if "extra ==" not in d or any(extra in d for extra in TESTED_EXTRAS)
    ]
    floors = {}
    for dep in deps:
        m = re.search(r"^([A-Za-z0-9_.-]+).*>=\s*([0-9][^,;\s]*)", dep)
        assert m, f"{dep}: every runtime dependency needs a floor (>=)"
        floors[m[1].lower()] = m[2]
    return floors


def _pinned() -> dict[str, str]:
    pins = {}
    for text in (ROOT / ".ci" / "min-versions.txt").read_text().splitlines():
        line = text.split("#")[0].split(";")[0].strip()  # a marker: see test-min-versions
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def test_the_constraints_ci_tests_are_pyprojects_floors():
    assert _pinned() == _floors()


def test_the_sandbox_holds_against_attr_format(monkeypatch: pytest.MonkeyPatch) -> None:
    """CVE-2025-27516: with Jinja2 3.1.5, ``|attr("format")`` reached str.format unchecked
    and a template read the environment (the sudo password). Run by CI at the floor."""
    monkeypatch.setenv("HOSTOPS_SUDO_PASSWORD", "s3cret")
    leak = (
        '{{ "{0.__init__.__globals__[os].environ[HOSTOPS_SUDO_PASSWORD]}"|attr("format")(cycler) }}'
    )
    with pytest.raises(tpl.TemplateError, match="unsafe"):
        tpl.render(leak, {})
