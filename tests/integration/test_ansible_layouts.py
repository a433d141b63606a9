"""Ansible project layouts driving real runs against the sshd fleet: a dynamic inventory
script with group_vars/ beside it, a vaulted variable (made by the real ansible-vault)
in a playbook template, and a vaulted ansible_become_password used by sudo and found
nowhere in outputs, run records or logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ansible_oracle import ansible_environment, ansible_tool
from conftest import Accounts
from test_secrets_leak import _Finder

from hostops.testing import SshdFleet
from hostops.testing.pytest_plugin import json_results, run_hostops

VAULT_PASSWORD = "vault pass phrase"


def _vault_password(tmp_path: Path) -> Path:
    path = tmp_path / "vault-password"
    path.write_text(VAULT_PASSWORD + "\n")
    return path


def _encrypt_string(value: str, name: str, tmp_path: Path) -> str:
    """``ansible-vault encrypt_string``'s ``NAME: !vault |`` block."""
    done = subprocess.run(
        [
            ansible_tool("ansible-vault"),
            "encrypt_string",
            "--vault-password-file",
            str(_vault_password(tmp_path)),
            "--name",
            name,
            value,
        ],
        env=ansible_environment(tmp_path / "ansible-home"),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def _script_inventory(folder: Path, fleet: SshdFleet, count: int) -> Path:
    """A dynamic inventory: aliases node1..N reaching the fleet's daemons, in two groups."""
    hosts = {
        f"node{i + 1}": {"ansible_host": h.address, "ansible_port": h.port}
        for i, h in enumerate(fleet.hosts[:count])
    }
    names = list(hosts)
    listing = {
        "web": {"hosts": names[: count // 2]},
        "db": {"hosts": names[count // 2 :], "vars": {"role": "database"}},
        "_meta": {"hostvars": hosts},
    }
    script = folder / "inventory.py"
    script.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"print(json.dumps({listing!r}) if sys.argv[1] == '--list' else '{{}}')\n"
    )
    script.chmod(0o755)
    return script


def test_a_dynamic_inventory_script_and_group_vars_drive_a_run(
    sshd_fleet: SshdFleet, tmp_path: Path
) -> None:
    folder = tmp_path / "project"
    (folder / "group_vars").mkdir(parents=True)
    script = _script_inventory(folder, sshd_fleet, 4)
    (folder / "group_vars" / "all.yml").write_text(
        f"ansible_user: {sshd_fleet.user}\n"
        f"ansible_ssh_private_key_file: {sshd_fleet.client_key}\n"
        "site: par1\n"
    )
    (folder / "group_vars" / "db.yml").write_text("role: db-from-group-vars\n")
    r = run_hostops(
        "run",
        "id -un",
        "--hosts",
        str(script),
        "--known-hosts",
        str(sshd_fleet.known_hosts),
        "-o",
        "json",
    )
    assert r.returncode == 0, r.stderr
    results = json_results(r.stdout)
    assert sorted(results) == ["node1", "node2", "node3", "node4"]
    for obj in results.values():
        assert (obj["status"], obj["stdout"]) == ("ok", f"{sshd_fleet.user}\n"), obj
    addresses = {obj["host"]: obj["address"] for obj in results.values()}
    assert addresses["node3"] == sshd_fleet.hosts[2].address

    shown = run_hostops("inventory", "--hosts", str(script), "--limit", "db", "--json")
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)["hosts"]
    assert list(doc) == ["node3", "node4"]
    assert doc["node3"]["vars"]["role"] == "db-from-group-vars"  # group_vars beat the script's
    assert doc["node3"]["origins"]["user"] == f"{folder / 'group_vars' / 'all.yml'}:1"


def test_a_vaulted_variable_in_a_playbook_template(sshd_fleet: SshdFleet, tmp_path: Path) -> None:
    secret = f"api-{os.getpid()}-{time.time_ns()}"
    folder = tmp_path / "project"
    (folder / "group_vars").mkdir(parents=True)
    inventory = folder / "hosts.ini"
    lines = ["[web]"] + [
        f"web{i} ansible_host={h.address} ansible_port={h.port}"
        for i, h in enumerate(sshd_fleet.hosts[:2], 1)
    ]
    inventory.write_text(
        "\n".join(lines) + f"\n[all:vars]\nansible_user={sshd_fleet.user}\n"
        f"ansible_ssh_private_key_file={sshd_fleet.client_key}\n"
    )
    # Beside the playbook, as Ansible reads playbook group_vars.
    (folder / "group_vars" / "web.yml").write_text(_encrypt_string(secret, "api_token", tmp_path))
    out = tmp_path / "remote"
    out.mkdir(mode=0o777)
    book = folder / "site.yml"
    book.write_text(
        "- hosts: web\n  tasks:\n"
        f"    - run: 'echo {{{{ api_token | quote }}}} > {out}/{{{{ inventory_hostname }}}}'\n"
    )
    common = ["--hosts", str(inventory), "--known-hosts", str(sshd_fleet.known_hosts)]

    # Without a password, the hosts that use the value fail, naming the variable.
    missing = run_hostops("play", str(book), *common, "-o", "json")
    assert missing.returncode == 1, missing.stderr
    for obj in json_results(missing.stdout).values():
        assert obj["status"] == "error"
        assert "variable 'api_token' (" in obj["error"]
        assert "no vault password was given (--vault-password-file" in obj["error"]
    assert list(out.iterdir()) == []

    password = ["--vault-password-file", str(_vault_password(tmp_path))]
    checked = run_hostops("play", str(book), *common, *password, "--check")
    assert checked.returncode == 0, checked.stderr
    assert "********" in checked.stdout and secret not in checked.stdout + checked.stderr

    r = run_hostops("play", str(book), *common, *password, "-o", "json")
    assert r.returncode == 0, r.stderr
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        "web1": secret + "\n",
        "web2": secret + "\n",
    }


def test_a_vaulted_become_password_is_used_by_sudo_and_never_shown(
    sshd_fleet: SshdFleet, tmp_path: Path, accounts: Accounts, isolated_home: Path
) -> None:
    started = time.time() - 1
    inventory = tmp_path / "hosts.yml"
    block = _encrypt_string(accounts.secret, "ansible_become_password", tmp_path)
    lines = [
        "all:",
        "  vars:",
        f"    ansible_user: {accounts.password_user}",
        "    ansible_become: true",
    ]
    lines += ["    " + line for line in block.splitlines()]
    lines += ["  hosts:"] + [
        f"    h{i}:\n      ansible_host: {h.address}\n      ansible_port: {h.port}"
        for i, h in enumerate(sshd_fleet.hosts[:3], 1)
    ]
    inventory.write_text("\n".join(lines) + "\n")
    common = [
        "--hosts",
        str(inventory),
        "--known-hosts",
        str(sshd_fleet.known_hosts),
        "--identity",
        str(sshd_fleet.client_key),
    ]
    finder = _Finder(accounts.secret)

    r = run_hostops(
        "run",
        "id -un",
        *common,
        "--vault-password-file",
        str(_vault_password(tmp_path)),
        "-o",
        "json",
        "--debug",
    )
    assert r.returncode == 0, r.stderr
    assert {o["stdout"] for o in json_results(r.stdout).values()} == {"root\n"}  # sudo used it
    finder.check("stdout", r.stdout)
    finder.check("stderr", r.stderr)

    shown = run_hostops("inventory", *common, "--json")  # no password: still shown, hidden
    assert shown.returncode == 0, shown.stderr
    finder.check("inventory --json", shown.stdout)
    assert '"ansible_become_password": "<hidden>"' in shown.stdout

    wrong = tmp_path / "wrong"
    wrong.write_text("not the vault password\n")
    bad = run_hostops("run", "id -un", *common, "--vault-password-file", str(wrong))
    assert bad.returncode == 2
    assert "host 'h1': variable 'ansible_become_password'" in bad.stderr
    finder.check("stderr (wrong vault password)", bad.stderr)

    files = finder.files(isolated_home) + finder.files(tmp_path)  # run records, logs
    files += finder.files(Path("/var/log"), since=started)
    assert files > 3
    assert finder.found == []
