"""hostops play's --tags, --skip-tags, --list-tasks and --list-hosts through the real
command line against the sshd fleet, compared with ansible-playbook on the same
playbook (written for each tool by test_playbook_vs_ansible's helpers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_playbook_vs_ansible import ANSIBLE_PLAYBOOK, TAGGED, _books

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import run_hostops

NAMES = ("host01", "host02", "host03", "host04")


def _ansible(theirs: Path, *args: str) -> subprocess.CompletedProcess[str]:
    ini = theirs.with_name("inventory.ini")
    ini.write_text(
        "".join(
            f"{h} ansible_connection=local ansible_python_interpreter={sys.executable}\n"
            for h in NAMES
        )
    )
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_HOST_KEY_CHECKING": "0"}
    argv = [str(ANSIBLE_PLAYBOOK), "-i", str(ini), str(theirs), *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, check=True)


def _logs(directory: Path) -> dict[str, list[str]]:
    return {
        h: (directory / h).read_text().split() if (directory / h).exists() else [] for h in NAMES
    }


@pytest.fixture
def inv4(sshd_fleet: SshdFleet, tmp_path: Path) -> Path:
    assert [h.name for h in sshd_fleet.hosts[:4]] == list(NAMES)
    return sshd_fleet.write_inventory(tmp_path / "inv.yaml", sshd_fleet.hosts[:4])


@pytest.mark.parametrize(("tags", "skip"), [("x", None), ("web", "y"), (None, "always")])
def test_tags_through_the_cli_select_what_ansible_selects(
    inv4: Path, tmp_path: Path, tags: str | None, skip: str | None
) -> None:
    ours, theirs = _books(tmp_path, TAGGED)
    logs = {"hostops": tmp_path / "log-hostops", "ansible": tmp_path / "log-ansible"}
    for directory in logs.values():
        directory.mkdir()
    selection = [*(["--tags", tags] if tags else []), *(["--skip-tags", skip] if skip else [])]
    r = run_hostops(
        "play", str(ours), "--hosts", str(inv4), "-e", f"log={logs['hostops']}",
        "-o", "quiet", "--no-record", *selection,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    _ansible(
        theirs,
        "-e",
        f"log={logs['ansible']}",
        *(f"--{o[2:]}={v}" for o, v in zip(selection[::2], selection[1::2], strict=True)),
    )
    ran = _logs(logs["hostops"])
    assert ran == _logs(logs["ansible"])
    assert ran["host01"]  # something was selected, and not everything
    assert len(ran["host01"]) < 9


def test_list_tasks_through_the_cli_reads_as_ansibles(inv4: Path, tmp_path: Path) -> None:
    ours, theirs = _books(tmp_path, TAGGED)
    r = run_hostops(
        "play", str(ours), "--hosts", str(inv4), "-e", "log=/nonexistent", "--list-tasks",
        "--tags", "x,z",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    expected = _ansible(theirs, "--list-tasks", "--tags=x,z").stdout
    # Ansible names an unnamed task by its action (``meta``); hostops by its text.
    mine = r.stdout.replace(str(ours), "BOOK").replace("meta: flush_handlers", "meta")
    theirs_text = expected.replace(str(theirs), "BOOK")
    assert [x for x in mine.splitlines() if x.strip()] == [
        x for x in theirs_text.splitlines() if x.strip()
    ]
    assert not Path("/nonexistent").exists()  # nothing ran


def _hosts_sorted(text: str) -> list[str]:
    """The non-blank lines, each play's host lines sorted: ansible-playbook's order of
    the hosts of a union pattern varies from run to run."""
    out: list[str] = []
    block: list[str] = []
    for line in [x for x in text.splitlines() if x.strip()] + [""]:
        if line.startswith("      "):
            block.append(line)
            continue
        out += sorted(block) + ([line] if line else [])
        block = []
    return out


def test_list_hosts_through_the_cli_reads_as_ansibles(inv4: Path, tmp_path: Path) -> None:
    ours, theirs = _books(tmp_path, TAGGED)
    r = run_hostops(
        "play", str(ours), "--hosts", str(inv4), "-e", "log=/nonexistent", "--list-hosts",
        "-l", "host01:host03",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    expected = _ansible(theirs, "--list-hosts", "-l", "host01:host03").stdout
    mine = _hosts_sorted(r.stdout.replace(str(ours), "BOOK"))
    assert mine == _hosts_sorted(expected.replace(str(theirs), "BOOK"))
    assert "      host03" in mine and "      host02" not in mine


def test_check_shows_template_diffs_and_diff_shows_what_a_run_changed(
    inv4: Path, tmp_path: Path
) -> None:
    (tmp_path / "app.conf.j2").write_text("name={{ inventory_hostname }}\nport=80\n")
    out = tmp_path / "out"
    out.mkdir()
    for h in NAMES[:2]:
        (out / h).write_text("name=old\nport=80\n")
    book = tmp_path / "book.yaml"
    book.write_text(
        "- hosts: host01:host02\n  tasks:\n    - name: conf\n"
        f"      template: {{src: app.conf.j2, dest: '{out}/{{{{ inventory_hostname }}}}'}}\n"
    )
    check = run_hostops("play", str(book), "--hosts", str(inv4), "--check")
    assert check.returncode == 0, check.stderr
    assert "-name=old" in check.stdout and "+name=host02" in check.stdout
    assert (out / "host02").read_text() == "name=old\nport=80\n"  # nothing written
    ran = run_hostops("play", str(book), "--hosts", str(inv4), "--diff", "--no-record")
    assert ran.returncode == 0, ran.stderr
    assert "'conf' on host01" in ran.stdout and "+name=host01" in ran.stdout
    assert (out / "host01").read_text() == "name=host01\nport=80\n"
    again = run_hostops("play", str(book), "--hosts", str(inv4), "--diff", "--no-record")
    assert again.returncode == 0, again.stderr
    assert "+name=" not in again.stdout  # unchanged: no diff
