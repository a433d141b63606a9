"""Playbooks: plays of tasks run on hosts in batches, as a library.

::

    playbook = load_playbook("site.yaml")           # ConfigError FILE:LINE on any problem
    plan = prepare(playbook, hosts, limit=None)     # hosts, batches, variables checked per host
    report = check(plan)                            # what would run, running nothing
    result = run_playbook(plan, executor)           # an Executor reaches the hosts

``load`` reads and checks the file, ``plan`` binds it to an inventory,
``runner`` carries out the rules of a rollout over an :class:`Executor`
(see hostops.operations for the contract), ``check`` is check mode. Templates are
Jinja2 in a sandbox (``template``).
"""

from __future__ import annotations

from hostops.batches import Count, batches, fail_limit
from hostops.operations import (
    Command,
    Download,
    Executor,
    Operation,
    Outcome,
    Purpose,
    Step,
    Upload,
)
from hostops.playbook.check import CheckReport, HostCheck, PlannedTask, PlayCheck, Would, check
from hostops.playbook.listing import list_hosts, list_tasks
from hostops.playbook.load import load_playbook
from hostops.playbook.model import (
    CommandAction,
    DownloadAction,
    MetaAction,
    Play,
    Playbook,
    ScriptAction,
    Task,
    TemplateAction,
    UploadAction,
)
from hostops.playbook.plan import PlaybookPlan, PlayPlan, prepare, with_vault
from hostops.playbook.results import PlaybookResult, PlayResult, TaskHostResult, TaskResult
from hostops.playbook.runner import run_playbook

__all__ = [
    "CheckReport",
    "Command",
    "CommandAction",
    "Count",
    "Download",
    "DownloadAction",
    "Executor",
    "HostCheck",
    "MetaAction",
    "Operation",
    "Outcome",
    "PlannedTask",
    "Play",
    "PlayCheck",
    "PlayPlan",
    "PlayResult",
    "Playbook",
    "PlaybookPlan",
    "PlaybookResult",
    "Purpose",
    "ScriptAction",
    "Step",
    "Task",
    "TaskHostResult",
    "TaskResult",
    "TemplateAction",
    "Upload",
    "UploadAction",
    "Would",
    "batches",
    "check",
    "fail_limit",
    "list_hosts",
    "list_tasks",
    "load_playbook",
    "prepare",
    "run_playbook",
    "with_vault",
]
