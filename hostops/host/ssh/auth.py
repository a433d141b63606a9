"""Authentication: keys, the agent, default keys, then a password, as OpenSSH orders them."""

from __future__ import annotations

import copy
import getpass
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import paramiko

from hostops.credentials import ENV_KEY_PASSPHRASE, ENV_PASSWORD
from hostops.host.base import HostFailure
from hostops.host.ssh._paramiko import agent_at, auth_publickey
from hostops.host.ssh.failures import reason
from hostops.host.ssh_config import MISSING_METHODS
from hostops.models import Host, Status

if TYPE_CHECKING:
    from hostops.host.ssh.context import SshContext

_DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")


def load_key(path: str, passphrase: str | None) -> paramiko.PKey | str:
    """The private key at ``path``, or why it cannot be used (never showing the passphrase)."""
    try:
        return paramiko.PKey.from_path(path)
    except FileNotFoundError:
        return f"{path}: no such file"
    except paramiko.PasswordRequiredException:
        pass
    except TypeError as exc:  # what paramiko lets through from cryptography for encrypted keys
        if "password" not in str(exc).lower():
            return f"{path}: cannot load key: {exc}"
    except (OSError, paramiko.SSHException, ValueError) as exc:
        # cryptography before 45 says only "could not deserialize" of an encrypted key
        # read without a password: with a passphrase at hand, try it before giving up.
        if passphrase is None or not isinstance(exc, ValueError):
            return f"{path}: cannot load key: {exc}"
        try:
            return _with_passphrase(path, passphrase)
        except (OSError, paramiko.SSHException, ValueError, TypeError):
            return f"{path}: cannot load key: {exc}"
    if passphrase is None:
        return (
            f"{path}: the key is encrypted and no passphrase was given"
            f" (use --ask-key-pass or {ENV_KEY_PASSPHRASE})"
        )
    try:
        return _with_passphrase(path, passphrase)
    except (OSError, paramiko.SSHException, ValueError, TypeError):
        # cryptography says "no BEGIN/END delimiters" for a wrong bcrypt passphrase:
        # the key read without one said it is encrypted, so the passphrase is wrong.
        return (
            f"{path}: wrong passphrase for this key (from --ask-key-pass or {ENV_KEY_PASSPHRASE})"
        )


PASSWORD_HINT = f"give a password with --ask-pass or {ENV_PASSWORD}"


def password_answers(password: str) -> Callable[[str, str, list[tuple[str, bool]]], list[str]]:
    """A keyboard-interactive handler that gives the password to the first round of
    hidden prompts (PAM's "Password:") and nothing to any later round: a server that
    then asks for something else (a new password, a code) gets no answer from us."""
    rounds = 0

    def answer(title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
        nonlocal rounds
        if not prompts:
            return []
        rounds += 1
        return ["" if echo or rounds > 1 else password for _, echo in prompts]

    return answer


def authenticate(t: paramiko.Transport, host: Host, ctx: SshContext, deadline: float) -> None:
    """Log in on ``t`` as ``host``'s user by ``deadline``, as OpenSSH orders it: identity
    files, the agent, default keys, then the password (when one was given), by password
    or keyboard-interactive authentication. Raises HostFailure."""
    user = host.user or getpass.getuser()
    problems: list[str] = []
    tried: set[bytes] = set()
    allowed: list[str] | None = None  # methods the server accepts, once it has said
    where = f"{user}@{host.address}"

    def attempt(method: Callable[[], object]) -> bool:
        nonlocal allowed
        if time.monotonic() >= deadline:
            raise HostFailure(Status.UNREACHABLE, "authentication timed out (--connect-timeout)")
        t.auth_timeout = _remaining(deadline)  # paramiko restarts its timer at every attempt
        try:
            method()
        except paramiko.BadAuthenticationType as exc:
            allowed = list(exc.allowed_types)
            return False
        except paramiko.AuthenticationException:
            if time.monotonic() >= deadline:  # paramiko's "Authentication timeout."
                raise HostFailure(
                    Status.UNREACHABLE, "authentication timed out (--connect-timeout)"
                ) from None
            return False
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise HostFailure(
                Status.UNREACHABLE, f"connection lost during authentication: {reason(exc)}"
            ) from None
        return t.is_authenticated()

    def by_key(key: paramiko.PKey) -> bool:
        offered = key.public_blob.key_blob if key.public_blob else key.asbytes()
        if offered in tried or (allowed is not None and "publickey" not in allowed):
            return False
        tried.add(offered)
        return attempt(lambda: auth_publickey(t, user, key, _remaining(deadline)))

    mine: set[bytes] = set()  # public blobs of the identity files (IdentitiesOnly)
    for path in host.identity_files:
        key = ctx.private_key(path)
        if isinstance(key, str):
            problems.append(key)
            continue
        mine.add(key.asbytes())
        for one in (*certified(key, path, host.ssh.certificate_files, problems), key):
            if by_key(one):
                return
    agent = _agent(host, ctx, problems)
    if agent is not None:
        try:
            keys = agent.get_keys()
            if host.ssh.identities_only:  # only the agent's copies of our identity files
                keys = tuple(k for k in keys if k.asbytes() in mine)
            if any(by_key(k) for k in keys):
                return
        finally:
            agent.close()
    for name in _DEFAULT_KEYS if not (host.ssh.identities_only and host.identity_files) else ():
        path = os.path.expanduser(f"~/.ssh/{name}")
        if path not in host.identity_files and os.path.exists(path):
            key = ctx.private_key(path)
            if not isinstance(key, str):
                for one in (*certified(key, path, (), problems), key):
                    if by_key(one):
                        return
    password = ctx.secrets.password_for(host)
    refused = ""  # what of the password was tried, for the message
    hint = ""
    if password is None:
        # Failing anyway: learn what the server would take, to say so (or it takes none).
        try:
            if allowed is None and attempt(lambda: t.auth_none(user)):
                return
        except HostFailure:  # it hung up (MaxAuthTries) or time ran out: denied all the same
            pass
        if {"password", "keyboard-interactive"} & set(allowed or ()):
            hint = f"; {PASSWORD_HINT}"
        if allowed is not None and "publickey" not in allowed:
            raise HostFailure(
                Status.AUTH_FAILED, f"{where}: server allows only {', '.join(allowed)}{hint}"
            )
        hint = hint and f"; the server also takes a password: {PASSWORD_HINT}"
    else:
        if allowed is None or "password" in allowed:
            if attempt(lambda: t.auth_password(user, password, fallback=False)):
                return
            if allowed is None or "password" in allowed:  # not refused as a method: wrong
                refused = " and a password"
        if not refused and allowed is not None and "keyboard-interactive" in allowed:
            if attempt(lambda: t.auth_interactive(user, password_answers(password))):
                return
            refused = " and a password (keyboard-interactive)"
        if not refused:
            raise HostFailure(
                Status.AUTH_FAILED,
                f"{where}: server allows only {', '.join(allowed or ())}"
                f" ({len(tried)} key(s) tried, no password method)",
            )
    detail = f"; {'; '.join(problems)}" if problems else ""
    missing = [o for o in host.ssh.ignored if o.split(" ", 1)[0].lower() in MISSING_METHODS]
    if missing:
        detail += f"; hostops has no {', '.join(missing)} (set in ssh_config)"
    raise HostFailure(
        Status.AUTH_FAILED,
        f"permission denied for {where} ({len(tried)} key(s){refused} tried){detail}{hint}",
    )


def certified(
    key: paramiko.PKey, path: str, certificate_files: tuple[str, ...], problems: list[str]
) -> list[paramiko.PKey]:
    """``key`` with each certificate for it: the CertificateFiles that certify it, else
    (as OpenSSH) ``PATH-cert.pub`` beside its file. A certificate offered first: a
    server that trusts the CA need not see the plain key refused."""
    candidates = certificate_files or (f"{path}-cert.pub",)
    out = []
    for cert in candidates:
        if not os.path.exists(cert):
            if certificate_files:
                problems.append(f"{cert}: no such certificate file")
            continue
        one = copy.copy(key)  # the cached key stays plain: other hosts may not want the cert
        try:
            one.load_certificate(cert)
        except (OSError, ValueError, paramiko.SSHException):
            if certificate_files:  # a CertificateFile for another key: not this one's
                continue
            problems.append(f"{cert}: not a certificate for {path}")
            continue
        out.append(one)
    return out


def _agent(host: Host, ctx: SshContext, problems: list[str]) -> paramiko.Agent | None:
    """The agent to ask for keys: IdentityAgent (a socket, an environment variable, or
    none), else $SSH_AUTH_SOCK; None without one or with --no-agent."""
    wanted = host.ssh.identity_agent
    if not ctx.options.use_agent or (wanted is not None and wanted.lower() == "none"):
        return None
    environ = ctx.secrets.environ if ctx.secrets.environ is not None else os.environ
    if wanted is None or wanted == "SSH_AUTH_SOCK":
        path = environ.get("SSH_AUTH_SOCK")
    elif wanted.startswith("$"):
        path = environ.get(wanted.strip("${}"))
    else:
        path = wanted
    if not path:
        return None
    try:
        return agent_at(path)
    except (OSError, paramiko.SSHException) as exc:
        problems.append(f"agent {path}: {reason(exc)}")
        return None


def _remaining(deadline: float) -> float:
    return max(0.1, deadline - time.monotonic())


def _with_passphrase(path: str, passphrase: str) -> paramiko.PKey:
    """The encrypted key at ``path``, opened with ``passphrase``."""
    secret = passphrase.encode()  # paramiko passes it to cryptography, which wants bytes
    return paramiko.PKey.from_path(path, secret)  # type: ignore[arg-type]  # its stubs say str
