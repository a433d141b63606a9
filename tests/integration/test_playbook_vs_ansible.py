"""Handlers, tags, run_once and flush_handlers as ansible-playbook defines them: the same
playbook written for both tools runs on ``connection: local`` hosts, every task appends
its name to a log per host (a shell line: hostops's ``run``, Ansible's ``raw``), and the
logs must be identical. ``--list-tasks`` output is compared too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hostops.fleet.rollout import play_plan
from hostops.models import Host, Transport
from hostops.playbook import list_tasks, load_playbook, prepare

HOSTS = ("h1", "h2", "h3", "h4")
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


def _command(name: str, fail_on: list[str]) -> str:
    line = f"echo {name} >> {{{{ log }}}}/{{{{ inventory_hostname }}}}"
    for host in fail_on:
        line += f" && test {{{{ inventory_hostname }}}} != {host}"
    return line


def _task(spec: dict[str, Any], ansible: bool) -> dict[str, Any]:
    """One task of the spec in either tool's spelling."""
    if spec.get("meta"):
        return {"meta": spec["meta"], **({"tags": spec["tags"]} if "tags" in spec else {})}
    task: dict[str, Any] = {"name": spec["name"]}
    command = _command(spec["name"], spec.get("fail_on", []))
    # Ansible runs the line with ``raw``: which tasks and handlers run where is decided by
    # its play iterator whatever the module, and ``raw`` (a failed task on a non-zero exit,
    # as ``shell``) spares a Python module start per task and host (~7 s -> ~1 s a playbook).
    task["ansible.builtin.raw" if ansible else "run"] = command
    task["changed_when"] = spec.get("changed", True)
    for key in ("notify", "tags", "run_once", "when"):
        if key in spec:
            task[key] = spec[key]
    return task


def _books(tmp_path: Path, plays: list[dict[str, Any]]) -> tuple[Path, Path]:
    out = []
    for ansible in (False, True):
        book = []
        for play in plays:
            written: dict[str, Any] = {"name": play["name"], "hosts": play.get("hosts", "all")}
            if ansible:
                written["gather_facts"] = False
            for key in ("serial", "tags", "force_handlers"):
                if key in play:
                    written[key] = play[key]
            written["tasks"] = [_task(t, ansible) for t in play["tasks"]]
            if play.get("handlers"):
                written["handlers"] = [_task(t, ansible) for t in play["handlers"]]
            book.append(written)
        path = tmp_path / ("ansible.yaml" if ansible else "hostops.yaml")
        path.write_text(yaml.safe_dump(book, sort_keys=False))
        out.append(path)
    return out[0], out[1]


def _logs(directory: Path) -> dict[str, list[str]]:
    return {
        h: (directory / h).read_text().split() if (directory / h).exists() else [] for h in HOSTS
    }


def run_both(
    tmp_path: Path,
    plays: list[dict[str, Any]],
    tags: tuple[str, ...] = (),
    skip_tags: tuple[str, ...] = (),
    force_handlers: bool = False,
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The per-host logs of hostops and of ansible-playbook, each run on fresh logs."""
    ours, theirs = _books(tmp_path, plays)
    logs = {"hostops": tmp_path / "log-hostops", "ansible": tmp_path / "log-ansible"}
    for directory in logs.values():
        directory.mkdir()
    inventory = [
        Host(h, "localhost", connection=Transport.LOCAL, vars={"log": str(logs["hostops"])})
        for h in HOSTS
    ]
    plan = prepare(load_playbook(ours), inventory, tags=tags, skip_tags=skip_tags)
    play_plan(plan, force_handlers=force_handlers)
    ini = tmp_path / "inventory.ini"
    ini.write_text(
        "".join(
            f"{h} ansible_connection=local ansible_python_interpreter={sys.executable}\n"
            for h in HOSTS
        )
    )
    argv = [str(ANSIBLE_PLAYBOOK), "-i", str(ini), str(theirs), "-e", f"log={logs['ansible']}"]
    argv += [f"--tags={','.join(tags)}"] if tags else []
    argv += [f"--skip-tags={','.join(skip_tags)}"] if skip_tags else []
    argv += ["--force-handlers"] if force_handlers else []
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_HOST_KEY_CHECKING": "0"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert "PLAY RECAP" in done.stdout, done.stdout + done.stderr
    return _logs(logs["hostops"]), _logs(logs["ansible"])


HANDLER_PLAY = {
    "name": "handlers",
    "tasks": [
        {"name": "config", "notify": ["restart", "reload"]},
        {"name": "quiet", "changed": False, "notify": "restart"},
        {"name": "flaky", "fail_on": ["h2"], "notify": "reload"},
        {"meta": "flush_handlers"},
        {"name": "more", "notify": ["audit"], "when": "inventory_hostname != 'h3'"},
        {"name": "late", "fail_on": ["h4"]},
    ],
    "handlers": [
        {"name": "reload", "notify": "audit"},
        {"name": "restart"},
        {"name": "audit"},
    ],
}


@pytest.mark.parametrize("force", [False, True])
def test_handlers_run_as_ansible_runs_them(tmp_path: Path, force: bool) -> None:
    ours, theirs = run_both(tmp_path, [HANDLER_PLAY], force_handlers=force)
    assert ours == theirs
    assert ours["h1"] == [
        "config",
        "quiet",
        "flaky",
        "reload",
        "restart",
        "audit",
        "more",
        "late",
        "audit",
    ]
    # h4 failed after being notified of "audit" by "more": it runs only when forced.
    assert ("audit" in ours["h4"][-1:]) is force


def test_handlers_with_serial_and_run_once_as_ansible(tmp_path: Path) -> None:
    play = {
        "name": "batched",
        "serial": 2,
        "tasks": [
            {"name": "once", "run_once": True, "notify": "after"},
            {"name": "each", "fail_on": ["h3"]},
        ],
        "handlers": [{"name": "after"}],
    }
    ours, theirs = run_both(tmp_path, [play])
    assert ours == theirs


TAGGED = [
    {
        "name": "tagged",
        "tags": ["web"],
        "tasks": [
            {"name": "plain"},
            {"name": "x", "tags": ["x"]},
            {"name": "xy", "tags": ["x", "y"]},
            {"name": "always", "tags": ["always"]},
            {"name": "never", "tags": ["never"]},
            {"name": "neverdebug", "tags": ["never", "debug"]},
            {"name": "flushed", "tags": ["y"], "notify": "h"},
            {"meta": "flush_handlers", "tags": ["z"]},
            {"name": "after", "tags": ["z"]},
        ],
        "handlers": [{"name": "h"}],
    },
    {"name": "untagged", "tasks": [{"name": "bare"}, {"name": "t", "tags": ["t"]}]},
]


@pytest.mark.parametrize(
    ("tags", "skip"),
    [
        ((), ()),
        (("x",), ()),
        (("debug",), ()),
        (("web",), ("y",)),
        (("tagged",), ()),
        (("untagged",), ()),
        ((), ("always",)),
        ((), ("all",)),
        (("all", "never"), ("x",)),
    ],
)
def test_tags_select_what_ansible_selects(
    tmp_path: Path, tags: tuple[str, ...], skip: tuple[str, ...]
) -> None:
    ours, theirs = run_both(tmp_path, TAGGED, tags, skip)
    assert ours == theirs


def test_list_tasks_reads_as_ansibles(tmp_path: Path) -> None:
    ours, theirs = _books(tmp_path, TAGGED)
    host = Host("h1", "localhost", vars={"log": "/tmp"})
    plan = prepare(load_playbook(ours), [host], tags=("x", "z"))
    argv = [str(ANSIBLE_PLAYBOOK), "-i", "h1,", str(theirs), "--list-tasks", "--tags=x,z"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
    # Ansible names an unnamed task by its action (``meta``); hostops by its text.
    mine = [
        line.replace(str(ours), "BOOK").replace("meta: flush_handlers", "meta")
        for line in list_tasks(plan)
    ]
    expected = [line.replace(str(theirs), "BOOK") for line in done.stdout.splitlines()]
    assert [line for line in mine if line.strip()] == [line for line in expected if line.strip()]
