"""Playbooks for real changes against the sshd fleet, through the engine: loops with
register, handlers, templates (idempotent, check-mode diffs, mode and owner as root
through sudo, backups), run_once and delegate_to, tags."""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path
from typing import Any

from hostops.fleet.rollout import check_plan, play_plan
from hostops.models import Host, Status
from hostops.playbook import PlaybookResult, load_playbook, prepare
from hostops.testing import SshdFleet


def fleet_hosts(fleet: SshdFleet, count: int, **variables: Any) -> list[Host]:
    return [fleet.host(i, vars=dict(variables)) for i in range(count)]


def run(book: Path, hosts: list[Host], **kw: Any) -> PlaybookResult:
    tags = kw.pop("tags", ())
    plan = prepare(load_playbook(book), hosts, tags=tags)
    return play_plan(plan, **kw).result


def test_a_loop_registers_one_result_per_item(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    book = tmp_path / "book.yaml"
    book.write_text(
        """
- hosts: all
  tasks:
    - name: files
      run: echo {{ item.name }} > {{ dir }}/{{ inventory_hostname }}-{{ item.name }}; echo {{ item.size }}
      loop:
        - {name: a, size: 1}
        - {name: b, size: 2}
        - {name: c, size: 3}
      loop_control: {label: "{{ item.name }}"}
      register: made
    - name: sum
      run: echo {{ made.results | map(attribute='stdout') | map('trim') | map('int') | sum }}
      register: total
"""
    )
    result = run(book, fleet_hosts(sshd_fleet, 2, dir=str(tmp_path)))
    assert result.host_statuses() == {"host01": Status.OK, "host02": Status.OK}
    loop, total = result.plays[0].tasks
    assert [r.item["name"] for r in loop.results[0].items or ()] == ["a", "b", "c"]
    assert total.results[1].stdout == b"6\n"
    assert sorted(p.name for p in tmp_path.glob("host0*")) == [
        f"host0{h}-{n}" for h in (1, 2) for n in "abc"
    ]


HANDLERS = """
- hosts: all
  tasks:
    - name: config
      put: {src: app.conf, dest: "{{ dir }}/{{ inventory_hostname }}.conf"}
      notify: restart
    - name: fail on demand
      run: test {{ inventory_hostname }} != {{ bad | default('none') }}
  handlers:
    - name: restart
      run: echo restarted >> {{ dir }}/{{ inventory_hostname }}.log
"""


def test_handlers_when_notified_unchanged_failed_and_forced(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    (tmp_path / "app.conf").write_text("v1\n")
    book = tmp_path / "book.yaml"
    book.write_text(HANDLERS)
    hosts = fleet_hosts(sshd_fleet, 3, dir=str(tmp_path))

    def restarts() -> dict[str, int]:
        logs = {h.name: tmp_path / f"{h.name}.log" for h in hosts}
        return {n: p.read_text().count("restarted") if p.exists() else 0 for n, p in logs.items()}

    run(book, hosts)
    assert restarts() == {"host01": 1, "host02": 1, "host03": 1}
    run(book, hosts)  # nothing changed: no handler
    assert restarts() == {"host01": 1, "host02": 1, "host03": 1}
    (tmp_path / "app.conf").write_text("v2\n")
    bad = [Host(**{**h.__dict__, "vars": {**h.vars, "bad": "host02"}}) for h in hosts]
    result = run(book, bad)
    assert restarts() == {"host01": 2, "host02": 1, "host03": 2}  # host02 failed after notify
    assert result.host_statuses()["host02"] is Status.FAILED
    (tmp_path / "app.conf").write_text("v3\n")
    run(book, bad, force_handlers=True)
    assert restarts() == {"host01": 3, "host02": 2, "host03": 3}


def test_templates_install_once_show_diffs_and_set_mode_owner_as_root(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    root_dir = tmp_path / "etc"
    root_dir.mkdir()
    (tmp_path / "app.conf.j2").write_text(
        "# {{ inventory_hostname }}\nport={{ port }}\n{% for u in users %}user={{ u }}\n{% endfor %}"
    )
    book = tmp_path / "book.yaml"
    book.write_text(
        """
- hosts: all
  become: true
  vars: {users: [ann, bob]}
  tasks:
    - name: config
      template:
        src: app.conf.j2
        dest: "{{ etc }}/{{ inventory_hostname }}.conf"
        mode: "0640"
        owner: nobody
        group: nogroup
        backup: true
      register: conf
"""
    )
    hosts = fleet_hosts(sshd_fleet, 2, etc=str(root_dir), port=80)
    # Check mode before anything exists: the whole file as added, nothing written.
    plan = prepare(load_playbook(book), hosts)
    lines = "\n".join(check_plan(plan).lines()).splitlines()
    assert "         --- /dev/null" in lines and "         +port=80" in lines
    assert not list(root_dir.iterdir())

    first = run(book, hosts)
    assert [r.changed for r in first.plays[0].tasks[0].results] == [True, True]
    conf = root_dir / "host01.conf"
    assert conf.read_text() == "# host01\nport=80\nuser=ann\nuser=bob\n"
    st = conf.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert (st.st_uid, st.st_gid) == (pwd.getpwnam("nobody").pw_uid, _gid("nogroup"))

    again = run(book, hosts)  # same content, mode and owner: nothing changes
    assert [r.changed for r in again.plays[0].tasks[0].results] == [False, False]
    assert sorted(p.name for p in root_dir.iterdir()) == ["host01.conf", "host02.conf"]

    os.chown(conf, 0, 0)  # only the owner differs: changed, set again, no rewrite
    changed_owner = run(book, hosts)
    assert [r.changed for r in changed_owner.plays[0].tasks[0].results] == [True, False]
    assert conf.stat().st_uid == pwd.getpwnam("nobody").pw_uid

    # A new port: check shows the diff and writes nothing; a run with diff shows it too,
    # and keeps a backup of the replaced file.
    changed = [Host(**{**h.__dict__, "vars": {**h.vars, "port": 8080}}) for h in hosts]
    plan = prepare(load_playbook(book), changed)
    lines = "\n".join(check_plan(plan).lines()).splitlines()
    assert "         -port=80" in lines and "         +port=8080" in lines
    assert conf.read_text().startswith("# host01\nport=80\n")
    result = run(book, changed, diff=True)
    r = result.plays[0].tasks[0].results[0]
    assert r.changed and r.diff is not None and "-port=80\n+port=8080\n" in r.diff
    backups = [p for p in root_dir.iterdir() if p.name.startswith("host01.conf.")]
    assert len(backups) == 1 and backups[0].name.endswith("~")
    assert "port=80\n" in backups[0].read_text() and "port=8080" in conf.read_text()


def _gid(name: str) -> int:
    import grp

    return grp.getgrnam(name).gr_gid


def test_run_once_delegate_to_and_tags(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    book = tmp_path / "book.yaml"
    book.write_text(
        """
- hosts: all
  serial: 2
  tasks:
    - name: where
      run: echo "ssh=${SSH_CONNECTION:+yes}"
      register: where
    - name: on the controller
      run: echo "ssh=${SSH_CONNECTION:+yes}" >> {{ dir }}/controller.log
      delegate_to: localhost
    - name: once per batch
      run: echo {{ inventory_hostname }} >> {{ dir }}/once.log
      run_once: true
      register: once
      tags: [once]
    - name: never unless asked
      run: echo never >> {{ dir }}/never.log
      tags: [never, debug]
"""
    )
    hosts = fleet_hosts(sshd_fleet, 3, dir=str(tmp_path))
    result = run(book, hosts)
    assert result.plays[0].tasks[0].results[0].stdout == b"ssh=yes\n"
    # Delegated: on this machine, not over SSH, once per host.
    assert (tmp_path / "controller.log").read_text() == "ssh=\n" * 3
    assert (tmp_path / "once.log").read_text() == "host01\nhost03\n"  # batches of 2
    once = result.plays[0].tasks[2].results
    assert [(r.host, r.copied_from) for r in once] == [
        ("host01", None),
        ("host02", "host01"),
        ("host03", None),
    ]
    assert not (tmp_path / "never.log").exists()
    run(book, hosts, tags=("debug",))
    assert (tmp_path / "never.log").read_text() == "never\n" * 3
    assert (tmp_path / "once.log").read_text() == "host01\nhost03\n"  # not selected
