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
class CommandAction:
    """``run: COMMAND``: a shell command (a template)."""

    command: str


@dataclass(frozen=True)
class ScriptAction:
    """``script: PATH [ARGS]``: a local script, uploaded and run.

    The whole text is a template; once rendered, its first shell word is the
    local path (relative to the playbook's directory) and the rest is passed
    to the script as shell text.
    """

    text: str


@dataclass(frozen=True)
class UploadAction:
    """``put: {src, dest, mode, owner, group, backup}``: upload a local file or directory
    (every text a template)."""

    src: str
    dest: str
    mode: str | None = None  # octal text ("0644") or a template rendering to it
    owner: str | None = None  # with sudo: the installed files' owner and group
    group: str | None = None
    backup: bool = False  # keep a replaced file as DEST.TIMESTAMP~


@dataclass(frozen=True)
class TemplateAction(UploadAction):
    """``template: {src, dest, …}``: the local Jinja2 file ``src`` rendered for each host
    (same sandbox and variables as the task), installed as ``put`` installs a file."""


@dataclass(frozen=True)
class MetaAction:
    """``meta: flush_handlers``: run the handlers notified so far, here."""

    what: str


@dataclass(frozen=True)
class DownloadAction:
    """``get: {src, dest}``: download a remote file or directory into ``dest/HOST/…``."""

    src: str
    dest: str


Action = CommandAction | ScriptAction | UploadAction | TemplateAction | DownloadAction | MetaAction
# One vocabulary: a playbook's ``run:``, ``put:`` and ``get:`` keys (the command line's
# words) are the Command, Upload and Download operations (hostops/operations.py); the
# actions here are those operations as written, templates not yet rendered.
KEYS: Mapping[type, str] = {
    CommandAction: "run",
    ScriptAction: "script",
    UploadAction: "put",
    TemplateAction: "template",
    DownloadAction: "get",
    MetaAction: "meta",
}

LOCALHOST = "localhost"  # the one host ``delegate_to`` may name: the controller


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
    sudo_user: str | None = None  # with sudo: whom to run as (None: root)
    # A list (items may be templates) or one template that gives a list; None: no loop.
    loop: str | tuple[Any, ...] | None = field(default=None, hash=False)
    loop_var: str = "item"
    loop_label: str | None = None  # a template shown per item instead of the item
    index_var: str | None = None  # set to the item's index (from 0)
    notify: tuple[str, ...] = ()  # handler names, notified when the task changed something
    run_once: bool = False  # on the first host of the batch; its result goes to every host
    delegate_to: str | None = None  # LOCALHOST: run on the controller instead
    tags: tuple[str, ...] = ()  # its own and its play's
    tty: bool = False  # request a pseudo-terminal (stdout and stderr then arrive merged)

    @property
    def kind(self) -> str:
        """The task's key in the playbook: ``run``, ``script``, ``put``, ``template``,
        ``get`` or ``meta``."""
        return KEYS[type(self.action)]

    @property
    def text(self) -> str:
        """The action as written, templates unrendered: ``run: systemctl restart {{ svc }}``."""
        action = self.action
        if isinstance(action, CommandAction):
            return f"run: {action.command}"
        if isinstance(action, ScriptAction):
            return f"script: {action.text}"
        if isinstance(action, MetaAction):
            return f"meta: {action.what}"
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
    handlers: tuple[Task, ...] = ()  # run at the end of each batch (or at flush_handlers)
    tags: tuple[str, ...] = ()
    force_handlers: bool = False  # run notified handlers on hosts that failed afterwards
    lock: str | None = None  # advisory lock name taken on every host for the run

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
