"""Ansible Vault decryption against texts made by the real ``ansible-vault`` (ansible-core,
a test dependency): values, whole variables files, labels, wrong passwords, password
scripts, and vaulted values in inventories staying encrypted until used."""

from __future__ import annotations

import dataclasses
import os
import pickle
import subprocess
from pathlib import Path

import pytest
from ansible_oracle import ansible_environment, ansible_tool

from hostops.credentials import secrets_from_environment
from hostops.errors import ConfigError
from hostops.host.settings import resolve_all
from hostops.host.ssh_config import SshConfig
from hostops.inventory import build, load_inventory, load_raw, resolve_hosts, with_vault
from hostops.inventory.show import inventory_json
from hostops.models import Status
from hostops.operations import Outcome, Upload
from hostops.playbook.diffs import unified
from hostops.vault import (
    ENV_PASSWORD_FILE,
    MASK,
    Vault,
    Vaulted,
    VaultError,
    load_vault,
    mask,
)

PASSWORD = "correct horse battery staple"
SECRET = "s3cr3t-ünïcode-välue"


@pytest.fixture(scope="module")
def vault_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    root = tmp_path_factory.mktemp("vault")
    env = ansible_environment(root / "home")
    password = root / "password"
    password.write_text(PASSWORD + "\n")
    return env, password


def encrypt_string(value: str, name: str, vault_env, vault_id: str = "") -> str:
    """``ansible-vault encrypt_string``: the YAML ``NAME: !vault |`` block it prints."""
    env, password = vault_env
    who = (
        ["--vault-id", f"{vault_id}@{password}"]
        if vault_id
        else ["--vault-password-file", str(password)]
    )
    done = subprocess.run(
        [ansible_tool("ansible-vault"), "encrypt_string", *who, "--name", name, value],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def encrypt_file(path: Path, vault_env) -> None:
    env, password = vault_env
    subprocess.run(
        [
            ansible_tool("ansible-vault"),
            "encrypt",
            "--vault-password-file",
            str(password),
            str(path),
        ],
        env=env,
        capture_output=True,
        timeout=120,
        check=True,
    )


def _ciphertext(block: str) -> str:
    """The vaulted text of an encrypt_string block (its indented lines)."""
    return "\n".join(line.strip() for line in block.splitlines()[1:] if line.strip())


def test_values_made_by_ansible_vault_decrypt(vault_env) -> None:
    text = _ciphertext(encrypt_string(SECRET, "x", vault_env))
    assert text.startswith("$ANSIBLE_VAULT;1.1;AES256")
    value = Vault([("default", PASSWORD.encode())]).decrypt(text)
    assert value == SECRET
    assert repr(value) == f"'{MASK}'" and SECRET not in repr(value)
    assert mask(f"echo {SECRET}!") == f"echo {MASK}!"


def test_a_labelled_value_uses_its_label_first(vault_env) -> None:
    text = _ciphertext(encrypt_string(SECRET, "x", vault_env, vault_id="prod"))
    assert text.startswith("$ANSIBLE_VAULT;1.2;AES256;prod")
    vault = Vault([("dev", b"wrong"), ("prod", PASSWORD.encode())])
    assert vault.decrypt(text) == SECRET


def test_a_wrong_password_or_none_is_a_clear_error(vault_env) -> None:
    text = _ciphertext(encrypt_string(SECRET, "x", vault_env))
    with pytest.raises(VaultError, match="no vault password given \\(default\\) decrypts it"):
        Vault([("default", b"nope")]).decrypt(text)
    with pytest.raises(VaultError, match="no vault password was given"):
        Vault().decrypt(text)
    with pytest.raises(VaultError, match="not hexadecimal"):
        Vault([("default", b"x")]).decrypt("$ANSIBLE_VAULT;1.1;AES256\nzz\n")
    with pytest.raises(VaultError, match=r"1\.0;AES is not supported"):
        Vault([("default", b"x")]).decrypt("$ANSIBLE_VAULT;1.0;AES\n00\n")


def test_password_files_and_scripts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = tmp_path / "plain"
    plain.write_text("one\n")
    script = tmp_path / "script"
    # The script sees no hostops secret in its environment (hostops.localenv).
    script.write_text('#!/bin/sh\necho "two${HOSTOPS_PASSWORD}"\n')
    script.chmod(0o755)
    monkeypatch.setenv("HOSTOPS_PASSWORD", "-leaked")
    vault = load_vault([str(plain)], [f"prod@{script}"])
    assert vault.secrets == [("default", b"one"), ("prod", b"two")]
    assert "one" not in repr(vault) and "two" not in repr(vault)
    assert load_vault(environ={ENV_PASSWORD_FILE: str(plain)}).secrets == [("default", b"one")]
    failing = tmp_path / "failing"
    failing.write_text("#!/bin/sh\necho oops >&2\nexit 3\n")
    failing.chmod(0o755)
    with pytest.raises(ConfigError, match="exited with 3: oops"):
        load_vault([str(failing)])
    with pytest.raises(ConfigError, match="no such file"):
        load_vault([str(tmp_path / "missing")])
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        load_vault([str(tmp_path / "empty")])


def _inventory(tmp_path: Path, vault_env, extra: str = "") -> Path:
    inv = tmp_path / "inv"
    (inv / "group_vars").mkdir(parents=True)
    block = encrypt_string(SECRET, "api_token", vault_env)
    become = encrypt_string("sudo-" + SECRET, "ansible_become_password", vault_env)
    (inv / "hosts.yml").write_text(
        "all:\n  hosts:\n    web1:\n      ansible_become: true\n"
        + "".join("      " + line + "\n" for line in become.splitlines())
        + extra
    )
    (inv / "group_vars" / "all.yml").write_text(block)
    return inv / "hosts.yml"


def test_loading_never_fails_because_of_vaulted_values(tmp_path: Path, vault_env) -> None:
    path = _inventory(tmp_path, vault_env)
    (web1,) = load_inventory(path)  # no password: still read
    assert isinstance(web1.vars["api_token"], Vaulted)
    assert web1.vars["api_token"].name == "api_token"
    assert web1.sudo is True
    shown = inventory_json(build(load_raw(path)), [web1])
    assert "<hidden>" in shown and "ANSIBLE_VAULT" not in shown and SECRET not in shown
    with pytest.raises(VaultError, match=r"variable 'api_token' \(.*all.yml:1\) is vaulted"):
        str(web1.vars["api_token"])


def test_vaulted_values_decrypt_when_used_and_become_a_sudo_password(
    tmp_path: Path, vault_env
) -> None:
    path = _inventory(tmp_path, vault_env)
    vault = Vault([("default", PASSWORD.encode())])
    (web1,) = load_inventory(path, vault=vault)
    bound = with_vault(web1, vault)
    assert str(bound.vars["api_token"]) == SECRET
    assert repr(bound.vars["api_token"]) == "<vaulted>"
    secrets = secrets_from_environment([web1], environ={}, vault=vault)
    assert secrets.sudo_password_for(web1) == "sudo-" + SECRET
    assert secrets.password_for(web1) is None
    assert SECRET not in repr(secrets)
    with pytest.raises(ConfigError, match="host 'web1': variable 'ansible_become_password'"):
        secrets_from_environment([web1], environ={}, vault=Vault([("default", b"wrong")]))


def test_a_vaulted_variables_file(tmp_path: Path, vault_env) -> None:
    path = _inventory(tmp_path, vault_env)
    secret_file = path.parent / "group_vars" / "all.yml"
    secret_file.write_text("ansible_user: vaulted-user\nplain: 1\n")
    encrypt_file(secret_file, vault_env)
    assert secret_file.read_text().startswith("$ANSIBLE_VAULT")
    with pytest.raises(ConfigError, match="vault-encrypted variables file: vaulted, and no vault"):
        load_inventory(path)
    (web1,) = load_inventory(path, vault=Vault([("default", PASSWORD.encode())]))
    assert web1.user == "vaulted-user" and web1.vars["plain"] == 1


def test_a_vaulted_inventory_file(tmp_path: Path, vault_env) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text("[web]\nweb1 ansible_port=2222\n")
    encrypt_file(path, vault_env)
    inv = build(load_raw(path, vault=Vault([("default", PASSWORD.encode())])))
    (web1,) = resolve_hosts(inv, inv.names)
    assert web1.port == 2222
    assert os.fspath(path).endswith("hosts.ini")


def test_the_run_secrets_carry_every_decrypted_value_to_mask(tmp_path: Path, vault_env) -> None:
    path = _inventory(tmp_path, vault_env)
    host_file = path.parent / "host_vars" / "web1.yml"
    host_file.parent.mkdir()
    host_file.write_text("db_password: from-a-vaulted-file\nport_number: 5432\n")
    encrypt_file(host_file, vault_env)
    vault = Vault([("default", PASSWORD.encode())])
    (web1,) = load_inventory(path, vault=vault)
    secrets = secrets_from_environment([web1], environ={}, vault=vault)
    assert sorted(secrets.masked) == sorted(["from-a-vaulted-file", SECRET, "sudo-" + SECRET])
    assert pickle.loads(pickle.dumps(secrets)).masked == secrets.masked  # to the workers
    assert SECRET not in repr(secrets) and "3 vaulted values to mask" in repr(secrets)
    # A value from a vaulted file is shown hidden, as a !vault one is.
    shown = inventory_json(build(load_raw(path, vault=vault)), [web1])
    assert "from-a-vaulted-file" not in shown and '"db_password": "<hidden>"' in shown
    # A value no password opens cannot be used, so needs no mask: not an error either.
    (plain,) = load_inventory(_inventory(tmp_path / "other", vault_env, ""))
    other = Vault([("default", b"wrong")])
    secrets = secrets_from_environment(
        [dataclasses.replace(plain, vars={"api_token": plain.vars["api_token"]})],
        environ={},
        vault=other,
    )
    assert secrets.masked == ()


def test_a_template_diff_masks_vaulted_values(vault_env) -> None:
    text = _ciphertext(encrypt_string("diffed-" + SECRET, "x", vault_env))
    value = Vault([("default", PASSWORD.encode())]).decrypt(text)
    upload = Upload("/local/app.conf", "/etc/app.conf")
    current = Outcome(Status.OK, stdout=b"token = old\n")
    shown = unified(upload, current, f"token = {value}\n")
    assert "+token = <vaulted>\n" in shown and value not in shown
    same = Outcome(Status.OK, stdout=f"token = {value}\n".encode())  # a probe's: not masked
    assert unified(upload, same, f"token = {value}\n") == ""


def test_a_jump_host_gets_its_vaulted_login_password(tmp_path: Path, vault_env) -> None:
    block = encrypt_string("hop-" + SECRET, "ansible_password", vault_env)
    path = tmp_path / "hosts.yml"
    path.write_text(
        "all:\n  hosts:\n    bastion:\n      ansible_host: 192.0.2.9\n"
        + "".join("      " + line + "\n" for line in block.splitlines())
        + "    web1:\n      ansible_host: 192.0.2.10\n"
        "      ansible_ssh_common_args: -o ProxyJump=bastion\n"
        "    web2:\n      ansible_host: 192.0.2.11\n"
        "      ansible_ssh_common_args: -o ProxyJump=ops@bastion:2222\n"
    )
    vault = Vault([("default", PASSWORD.encode())])
    inv = build(load_raw(path, vault=vault))
    web1, web2 = resolve_all(
        resolve_hosts(inv, ["web1", "web2"]),
        ssh_config=SshConfig.chosen(False),
        inventory_host=lambda name: (
            resolve_hosts(inv, [name])[0] if name in inv.raw.hosts else None
        ),
    )
    (hop1,), (hop2,) = web1.jump_hosts, web2.jump_hosts
    assert (hop1.address, hop2.address, hop2.user, hop2.port) == ("192.0.2.9",) * 2 + ("ops", 2222)
    secrets = secrets_from_environment([web1, web2], environ={}, vault=vault)
    assert secrets.password_for(hop1) == secrets.password_for(hop2) == "hop-" + SECRET
    assert secrets.password_for(web1) is None  # the target's own: none
    assert "hop-" + SECRET in secrets.masked
    with pytest.raises(ConfigError, match="host 'web1', jump host 'bastion': variable 'ansible_pa"):
        secrets_from_environment([web1], environ={}, vault=Vault([("default", b"wrong")]))
