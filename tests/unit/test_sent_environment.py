"""SendEnv/SetEnv: what a connection sends is worked out once per context and pattern set
(SshContext.sent_environment), and is what sent_environment computes for that host."""

from __future__ import annotations

import dataclasses

from hostops.credentials import Secrets
from hostops.host.ssh import SshContext
from hostops.host.ssh.context import sent_environment
from hostops.models import Host, RunOptions, SshSettings

SECRET = "s3cret-value"
LOCAL = {"LANG": "C.UTF-8", "LC_TIME": "C", "HOME": "/root", "DB_PW": SECRET}


def _host(name: str, send: tuple[str, ...], set_env: tuple[str, ...] = ()) -> Host:
    return Host(
        name, "127.0.0.1", password_env="DB_PW", ssh=SshSettings(send_env=send, set_env=set_env)
    )


def _context(environ: dict[str, str]) -> SshContext:
    secrets = Secrets(env_names=("HOSTOPS_PASSWORD", "DB_PW"), environ=environ)
    return SshContext(RunOptions(), lambda msg: None, secrets)


def test_each_pattern_set_gets_what_sent_environment_gives_it_never_a_secret() -> None:
    environ = dict(LOCAL)
    ctx = _context(environ)
    lang = _host("a", ("LANG", "LC_*"))
    everything = _host("b", ("*",), ("FROM=config",))
    local = ctx.secrets.scrubbed_environment()
    assert (
        ctx.sent_environment(lang)
        == sent_environment(lang, local)
        == {
            "LANG": "C.UTF-8",
            "LC_TIME": "C",
        }
    )
    sent = ctx.sent_environment(everything)
    assert sent == sent_environment(everything, local)
    assert sent["FROM"] == "config" and sent["HOME"] == "/root"
    assert SECRET not in sent.values() and "DB_PW" not in sent
    assert ctx.sent_environment(_host("c", ())) == {}


def test_worked_out_once_per_context_and_patterns() -> None:
    environ = dict(LOCAL)
    ctx = _context(environ)
    first = ctx.sent_environment(_host("a", ("LANG",)))
    environ["LANG"] = "fr_FR.UTF-8"  # read once: a run's environment is fixed at its start
    again = ctx.sent_environment(dataclasses.replace(_host("b", ("LANG",)), address="10.0.0.2"))
    assert again is first and again == {"LANG": "C.UTF-8"}
    # Another run (another context) reads the environment anew.
    assert _context(environ).sent_environment(_host("a", ("LANG",))) == {"LANG": "fr_FR.UTF-8"}
