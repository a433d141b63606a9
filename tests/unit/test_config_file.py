"""The configuration file (hostops.userconfig): where it is, what is refused in it, and
the line every error names."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostops.errors import ConfigError
from hostops.userconfig import ConfigFile, key_lines, load, location, parse, setting_text


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_location_follows_hostops_config_then_xdg_then_home() -> None:
    assert location({"HOSTOPS_CONFIG": "/etc/h.toml", "XDG_CONFIG_HOME": "/x"}) == Path(
        "/etc/h.toml"
    )
    assert location({"HOSTOPS_CONFIG": "", "HOME": "/h"}) is None  # empty: no file at all
    assert location({"XDG_CONFIG_HOME": "/x", "HOME": "/h"}) == Path("/x/hostops/config.toml")
    # a relative XDG_CONFIG_HOME is ignored, as the XDG rules say
    assert location({"XDG_CONFIG_HOME": "rel", "HOME": "/h"}) == Path(
        "/h/.config/hostops/config.toml"
    )
    assert location({"HOME": "/h"}) == Path("/h/.config/hostops/config.toml")


def test_no_file_at_the_default_place_is_no_configuration(tmp_path: Path) -> None:
    assert load({"XDG_CONFIG_HOME": str(tmp_path)}) is None


def test_a_file_named_by_hostops_config_must_exist(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"missing.toml: no such file \(named by \$HOSTOPS_CONFIG\)"
    ):
        load({"HOSTOPS_CONFIG": str(tmp_path / "missing.toml")})


def test_settings_keep_their_lines(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '# defaults\n\nforks = 20\ntext = """\nfake = 1\n"""\n"host-key-policy" = "off"\n',
    )
    found = load({"HOSTOPS_CONFIG": str(path)})
    assert isinstance(found, ConfigFile)
    assert list(found.settings) == ["forks", "text", "host-key-policy"]
    assert found.where("forks") == f"{path}:3"
    assert found.where("host-key-policy") == f"{path}:7"  # not fooled by the string's lines
    assert found.settings["forks"].value == 20


def test_key_lines_know_tables_and_dotted_keys() -> None:
    lines = key_lines("a = 1\n[t]\nb.c = 2\n[[arr]]\nd = {e = 1}\n")
    assert lines[("a",)] == 1
    assert lines[("t",)] == 2
    assert lines[("t", "b", "c")] == 3
    assert lines[("arr", "d")] == 5


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "forks = 20\ntimeout = = 3\n")
    with pytest.raises(ConfigError) as caught:
        load({"HOSTOPS_CONFIG": str(path)})
    assert str(caught.value).startswith(f"{path}:2: not TOML: ")
    assert "\n" not in str(caught.value)


def test_text_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"forks = 2\nuser = '\xff'\n")
    with pytest.raises(ConfigError, match=r"config.toml:2: not UTF-8 text"):
        load({"HOSTOPS_CONFIG": str(path)})


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ('forks = 3\npassword = "hunter2"\n', "password", 2),
        ('sudo-password = "hunter2"\n', "sudo-password", 1),
        ('key_passphrase = "hunter2"\n', "key_passphrase", 1),
        ('vault-password = "hunter2"\n', "vault-password", 1),
        ('x = 1\n[auth]\nbecome_pass = "hunter2"\n', "auth.become_pass", 3),
        ('auth = { api-token = "hunter2" }\n', "auth.api-token", 1),
    ],
)
def test_secrets_are_refused_naming_the_key_never_the_value(
    tmp_path: Path, text: str, key: str, line: int
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        parse(path, path.read_bytes())
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: {key}: no secrets in the configuration file")
    assert "hunter2" not in message
    assert "\n" not in message


def test_a_file_holding_a_password_is_a_path_not_a_secret(tmp_path: Path) -> None:
    path = _write(tmp_path, 'vault-password-file = "~/.vault"\n')
    assert parse(path, path.read_bytes()).settings["vault-password-file"].value == "~/.vault"


def test_tables_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "forks = 2\n\n[run]\nforks = 3\n")
    with pytest.raises(
        ConfigError, match=r"config.toml:3: \[run\]: the settings are top-level keys"
    ):
        parse(path, path.read_bytes())


def test_setting_text_for_the_warm_client(tmp_path: Path) -> None:
    path = _write(tmp_path, 'persist = "10m"\nforks = 3\n')
    environ = {"HOSTOPS_CONFIG": str(path)}
    assert setting_text(environ, "persist") == "10m"
    assert setting_text(environ, "forks") == "3"
    assert setting_text(environ, "timeout") is None
    path.write_text("persist = = \n")  # broken: the command line will say why
    assert setting_text(environ, "persist") is None
