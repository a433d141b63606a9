"""Secrets: where they come from, who gets which password, and that they never show."""

from __future__ import annotations

import pickle

import pytest

from hostops.credentials import Secrets, secrets_from_environment
from hostops.errors import ConfigError
from hostops.models import Host

SECRET = "s3 cr'et\"$HOME"


def test_repr_and_str_show_which_secrets_are_set_never_their_values() -> None:
    s = Secrets(password=SECRET, sudo_password=SECRET, host_passwords={"DB_PW": SECRET})
    for text in (repr(s), str(s), f"{s}", repr([s])):
        assert SECRET not in text
    assert repr(s) == "Secrets(password, sudo_password, password_env DB_PW; values hidden)"
    assert repr(Secrets()) == "Secrets(none; values hidden)"


def test_secrets_cross_to_worker_processes() -> None:
    """forkserver and spawn pickle a worker's arguments."""
    s = pickle.loads(pickle.dumps(Secrets(password=SECRET)))
    assert s.password == SECRET


def test_given_values_win_over_the_environment() -> None:
    env = {"HOSTOPS_PASSWORD": "env", "HOSTOPS_KEY_PASSPHRASE": "kp", "HOSTOPS_SUDO_PASSWORD": "sp"}
    s = secrets_from_environment([], environ=env)
    assert (s.password, s.key_passphrase, s.sudo_password) == ("env", "kp", "sp")
    s = secrets_from_environment([], password="typed", sudo_password="typed2", environ=env)
    assert (s.password, s.key_passphrase, s.sudo_password) == ("typed", "kp", "typed2")
    assert secrets_from_environment([], environ={}).password is None


def test_password_env_per_host_then_the_run_password() -> None:
    db = Host("db1", "10.0.0.1", password_env="DB_PW")
    web = Host("web1", "10.0.0.2")
    s = secrets_from_environment([db, web], environ={"DB_PW": SECRET, "HOSTOPS_PASSWORD": "x"})
    assert s.password_for(db) == SECRET
    assert s.password_for(web) == "x"
    assert "DB_PW" in s.env_names and "HOSTOPS_PASSWORD" in s.env_names


def test_jump_hosts_password_env_is_read_too() -> None:
    hop = Host("gate", "10.0.0.9", password_env="GATE_PW")
    web = Host("web1", "10.0.0.2", jump="gate", jump_hosts=(hop,))
    s = secrets_from_environment([web], environ={"GATE_PW": SECRET})
    assert s.password_for(hop) == SECRET


def test_an_unset_password_env_is_an_error_unless_a_run_password_is_given() -> None:
    hosts = [Host(f"db{i}", f"10.0.0.{i}", password_env="DB_PW") for i in (1, 2, 3)]
    with pytest.raises(ConfigError) as err:
        secrets_from_environment(hosts, environ={})
    assert str(err.value) == (
        "password_env DB_PW (for db[1-3]) is not set in the environment;"
        " set it, or give --ask-pass or HOSTOPS_PASSWORD"
    )
    s = secrets_from_environment(hosts, password="typed", environ={})
    assert s.password_for(hosts[0]) == "typed"


def test_local_commands_get_an_environment_without_the_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOSTOPS_PASSWORD", SECRET)
    monkeypatch.setenv("DB_PW", SECRET)
    monkeypatch.setenv("KEEP_ME", "1")
    s = secrets_from_environment([Host("db1", "db1", password_env="DB_PW")])
    env = s.scrubbed_environment()
    assert SECRET not in env.values()
    assert env["KEEP_ME"] == "1"
