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
from test_secrets_leak import _Finder, _forms

from hostops.testing import LogTail, SshdFleet
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


def _keyed(inventory: Path, fleet: SshdFleet) -> list[str]:
    """Options for ``inventory``'s hosts on ``fleet``, logging in with the fleet's key."""
    return [
        "--hosts",
        str(inventory),
        "--known-hosts",
        str(fleet.known_hosts),
        "--identity",
        str(fleet.client_key),
    ]


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
    assert "<vaulted>" in checked.stdout and secret not in checked.stdout + checked.stderr

    r = run_hostops("play", str(book), *common, *password, "-o", "json")
    assert r.returncode == 0, r.stderr
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        "web1": secret + "\n",
        "web2": secret + "\n",
    }


def test_vaulted_values_are_masked_in_every_view_record_and_error(
    sshd_fleet: SshdFleet, tmp_path: Path, isolated_home: Path
) -> None:
    """Tasks print vaulted values (of group_vars and of the play's vars) (whole, on stderr, cut in two chunks by a pause), install
    it with a template and read it back, loop over it, and name it in a path that fails
    (the host's error) or in a bad loop (the controller's error): hostops shows
    and records <vaulted> in its place, in every view, --out-dir, the run records and
    --check's diff, while the hosts got the real value."""
    secret = f"tok-{os.getpid()}-{time.time_ns()}"
    folder = tmp_path / "project"
    (folder / "group_vars").mkdir(parents=True)
    inventory = folder / "hosts.ini"
    inventory.write_text(
        "[web]\n"
        + "".join(
            f"web{i} ansible_host={h.address} ansible_port={h.port}\n"
            for i, h in enumerate(sshd_fleet.hosts[:2], 1)
        )
        + f"[all:vars]\nansible_user={sshd_fleet.user}\n"
        f"ansible_ssh_private_key_file={sshd_fleet.client_key}\n"
    )
    (folder / "group_vars" / "web.yml").write_text(_encrypt_string(secret, "api_token", tmp_path))
    (folder / "app.conf.j2").write_text("token = {{ api_token }}\n")
    remote = tmp_path / "remote"  # what the hosts got: the real value, on purpose
    remote.mkdir(mode=0o777)
    conf = f"{remote}/{{{{ inventory_hostname }}}}.conf"
    book = folder / "site.yml"
    play_secret = f"play-{secret}"  # a play's own vaulted vars too
    block = _encrypt_string(play_secret, "db_password", tmp_path)
    book.write_text(
        "- hosts: web\n  vars:\n"
        + "".join(f"    {line}\n" for line in block.splitlines())
        + "  tasks:\n"
        "    - name: say the play's\n"
        "      run: echo {{ db_password | quote }}\n"
        "    - name: say it\n"
        "      run: printf 'token=%s\\n' {{ api_token | quote }}; echo {{ api_token | quote }} >&2\n"
        "    - name: say it in two pieces\n"
        '      run: t={{ api_token | quote }}; printf %s "$t" | head -c 6; sleep 0.5;'
        ' printf %s "$t" | tail -c +7; echo\n'
        "    - name: install it\n"
        f"      template: {{src: app.conf.j2, dest: '{conf}'}}\n"
        "    - name: read it back\n"
        f"      run: cat '{conf}'\n"
        "    - name: loop over it\n"
        "      run: 'true'\n"
        "      loop: ['{{ api_token }}']\n"
        "    - name: name it in a path that fails on web1\n"
        "      put:\n"
        "        src: app.conf.j2\n"
        f"        dest: \"{remote}/{{{{ 'missing-' ~ api_token ~ '/' if inventory_hostname == 'web1'"
        " else '' }}"
        '{{ api_token }}"\n'
        "    - name: loop over it wrongly\n"
        "      run: 'true'\n"
        "      loop: \"{{ api_token ~ '' }}\"\n"
    )
    common = [
        "--hosts",
        str(inventory),
        "--known-hosts",
        str(sshd_fleet.known_hosts),
        "--vault-password-file",
        str(_vault_password(tmp_path)),
    ]
    finder = _Finder(secret)
    finder.forms += _forms(play_secret)
    out_dir = tmp_path / "out-dir"
    for view in ("stream", "gather", "diff", "json"):
        r = run_hostops("play", str(book), *common, "-o", view, "--out-dir", str(out_dir / view))
        assert r.returncode == 1, r.stderr  # the last task failed
        finder.check(f"stdout (-o {view})", r.stdout)
        finder.check(f"stderr (-o {view})", r.stderr)
        assert "<vaulted>" in r.stdout, r.stdout
        if view == "stream":
            assert "'loop over it' [<vaulted>]" in r.stderr, r.stderr  # a loop item's heading
    assert "token=<vaulted>" in r.stdout and "token = <vaulted>" in r.stdout
    said = json_results(r.stdout)["web1"]
    # The second line came in two pieces, each a part of the value: masked whole.
    assert said["stdout"] == "<vaulted>\ntoken=<vaulted>\n<vaulted>\ntoken = <vaulted>\n", said
    assert said["stderr"] == "<vaulted>\n", said
    assert "/missing-<vaulted>" in said["error"], said  # the directory that is not there
    web2 = json_results(r.stdout)["web2"]  # an error of the controller's, naming it
    assert web2["error"].endswith("loop must give a list, not a str: '<vaulted>'"), web2
    assert sorted(p.name for p in remote.iterdir()) == [secret, "web1.conf", "web2.conf"]
    assert (remote / "web1.conf").read_text() == f"token = {secret}\n"

    shown = run_hostops("run", "echo {{ x }} " + secret[:3], *common)  # not vaulted: shown
    assert shown.returncode == 0 and secret[:3] in shown.stdout

    checked = run_hostops("play", str(book), *common, "--check")
    assert checked.returncode == 1, checked.stderr  # the bad loop would fail: foreseen
    assert checked.stderr.count("'loop over it wrongly': loop: loop must give a list") == 2
    assert "run: t=<vaulted>; printf" in checked.stdout, checked.stdout
    finder.check("stdout (--check)", checked.stdout)
    finder.check("stderr (--check)", checked.stderr)

    files = finder.files(isolated_home) + finder.files(out_dir)  # run records, logs, out-dir
    assert files > 8
    assert finder.found == []


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
    common = _keyed(inventory, sshd_fleet)
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


def test_uploads_follow_the_inventory_become_as_commands_do(
    sshd_fleet: SshdFleet, tmp_path: Path, accounts: Accounts
) -> None:
    """``ansible_become: true`` makes put, template and playbook puts install as root (as
    Ansible's copy with become), unless the task says ``become: false``."""
    inventory = tmp_path / "hosts.yml"
    host = sshd_fleet.hosts[0]
    inventory.write_text(
        f"all:\n  vars:\n    ansible_user: {accounts.password_user}\n    ansible_become: true\n"
        f"  hosts:\n    h1:\n      ansible_host: {host.address}\n      ansible_port: {host.port}\n"
    )
    common = [*_keyed(inventory, sshd_fleet), "-o", "json"]
    env = {**os.environ, "HOSTOPS_SUDO_PASSWORD": accounts.secret}
    src = tmp_path / "app.conf"
    src.write_text("listen 8080\n")
    src.chmod(0o644)
    root_only = Path(f"/root/hostops-test-{os.getpid()}-{time.time_ns()}")
    root_only.mkdir(mode=0o700)
    book = tmp_path / "site.yml"
    book.write_text(
        "- hosts: all\n  tasks:\n"
        f"    - template: {{src: {src}, dest: {root_only}/templated.conf}}\n"
        f"    - put: {{src: {src}, dest: {root_only}/put.conf}}\n"
        f"    - put: {{src: {src}, dest: {root_only}/refused.conf}}\n"
        "      become: false\n"
    )
    try:
        r = run_hostops("put", str(src), f"{root_only}/app.conf", *common, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert (root_only / "app.conf").read_text() == "listen 8080\n"
        assert (root_only / "app.conf").stat().st_uid == 0

        played = run_hostops("play", str(book), *common, env=env)
        assert played.returncode == 1, played.stdout + played.stderr  # the last task
        for name in ("templated.conf", "put.conf"):
            assert (root_only / name).stat().st_uid == 0, name
        assert not (root_only / "refused.conf").exists()
        error = json_results(played.stdout)["h1"]["error"]
        assert error.startswith("task 3 ") and "permission denied" in error, error
    finally:
        for f in root_only.iterdir():
            f.unlink()
        root_only.rmdir()


def test_a_jump_host_logs_in_with_its_vaulted_password(
    password_fleet: SshdFleet, tmp_path: Path, accounts: Accounts
) -> None:
    """The inventory's bastion has a vaulted ansible_password and a key it may not use:
    a target reached through it (ProxyJump) is reached only if that password is used."""
    unknown_key = tmp_path / "not-authorized"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(unknown_key)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    bastion, target = password_fleet.hosts[:2]
    block = _encrypt_string(accounts.secret, "ansible_password", tmp_path)
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "all:\n  hosts:\n    bastion:\n"
        f"      ansible_host: {bastion.address}\n      ansible_port: {bastion.port}\n"
        f"      ansible_user: {accounts.password_user}\n"
        f"      ansible_ssh_private_key_file: {unknown_key}\n"
        + "".join("      " + line + "\n" for line in block.splitlines())
        + "    web1:\n"
        f"      ansible_host: {target.address}\n      ansible_port: {target.port}\n"
        f"      ansible_user: {password_fleet.user}\n"
        f"      ansible_ssh_private_key_file: {password_fleet.client_key}\n"
        "      ansible_ssh_common_args: -o ProxyJump=bastion\n"
    )
    common = ["--hosts", str(inventory), "--known-hosts", str(password_fleet.known_hosts)]
    common += ["--limit", "web1", "-o", "json"]
    log = LogTail(bastion.log)
    r = run_hostops(
        "run", "id -un", *common, "--vault-password-file", str(_vault_password(tmp_path))
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert json_results(r.stdout)["web1"]["stdout"] == f"{password_fleet.user}\n"
    assert f"Accepted password for {accounts.password_user}" in log.new()
    finder = _Finder(accounts.secret)
    finder.check("stdout", r.stdout)
    finder.check("stderr", r.stderr)
    assert finder.found == []
