"""A playbook as loaded and checked: frozen dataclasses of builtins.

Templated fields keep their Jinja2 source text (``"systemctl restart {{ svc }}"``);
they are rendered per host when the task runs. Expressions (``when``, ``until``,
``changed_when``) are kept as sources too: compiled and cached by
:mod:`hostops.playbook.template`, so the model stays plain, picklable data.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hostops.batches import Count


@dataclass(frozen=True)
class Run:
    """``run: COMMAND``: a shell command (a template)."""

    command: str


@dataclass(frozen=True)
class Script:
    """``script: PATH [ARGS]``: a local script, uploaded and run.

    The whole text is a template; once rendered, its first shell word is the
    local path (relative to the playbook's directory) and the rest is passed
    to the script as shell text.
    """

    text: str


@dataclass(frozen=True)
class Put:
    """``put: {src, dest, mode}``: upload a local file or directory (templates)."""

    src: str
    dest: str
    mode: str | None = None  # octal text ("0644") or a template rendering to it


@dataclass(frozen=True)
class Get:
    """``get: {src, dest}``: download a remote file or directory into ``dest/HOST/…``."""

    src: str
    dest: str


Action = Run | Script | Put | Get


@dataclass(frozen=True)
class Task:
    """One task of a play. Every ``str`` field except ``name`` and ``register`` is a template;
    ``when``, ``until`` and ``changed_when`` are expressions (all must be true)."""

    action: Action
    line: int  # where the task starts in the playbook
    name: str = ""
    # True/False: with sudo or not; None: not said (the play's become, else the host's
    # ansible_become, else the run's --sudo decide).
    sudo: bool | None = None
    timeout: float | None = None
    retries: int = 0  # more attempts after the first
    until: tuple[str, ...] = ()
    delay: float = 5.0  # seconds between attempts
    ignore_errors: bool = False
    when: tuple[str, ...] = ()
    changed_when: tuple[str, ...] = ()
    creates: str | None = None  # skip when this remote path exists
    removes: str | None = None  # skip when this remote path does not exist
    register: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    cwd: str | None = None

    @property
    def kind(self) -> str:
        """``run``, ``script``, ``put`` or ``get``."""
        return type(self.action).__name__.lower()

    @property
    def text(self) -> str:
        """The action as written, templates unrendered: ``run: systemctl restart {{ svc }}``."""
        action = self.action
        if isinstance(action, Run):
            return f"run: {action.command}"
        if isinstance(action, Script):
            return f"script: {action.text}"
        return f"{self.kind}: {action.src} -> {action.dest}"

    @property
    def title(self) -> str:
        """The task's name, or its action's text when it has none."""
        return self.name or self.text


@dataclass(frozen=True)
class Play:
    """One play: tasks run on the hosts a pattern selects, in batches."""

    hosts: str  # a host pattern (README, "Host patterns")
    tasks: tuple[Task, ...]
    line: int
    name: str = ""
    vars: Mapping[str, Any] = field(default_factory=dict, hash=False)
    serial: Count | None = None  # None: every host in one batch
    max_fail: Count | None = None  # None: stop only when a whole batch failed

    @property
    def title(self) -> str:
        return self.name or self.hosts


@dataclass(frozen=True)
class Playbook:
    """A loaded, checked playbook. Local paths in it are relative to ``base_dir``."""

    path: str
    plays: tuple[Play, ...]

    @property
    def base_dir(self) -> str:
        return os.path.dirname(os.path.abspath(self.path))
