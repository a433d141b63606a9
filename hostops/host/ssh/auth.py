"""Authentication: keys, the agent, default keys, then a password, as OpenSSH orders them."""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import paramiko

from hostops.credentials import ENV_KEY_PASSPHRASE, ENV_PASSWORD
from hostops.host.base import HostFailure
from hostops.host.ssh.failures import reason
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
        return f"{path}: cannot load key: {exc}"
    if passphrase is None:
        return (
            f"{path}: the key is encrypted and no passphrase was given"
            f" (use --ask-key-pass or {ENV_KEY_PASSPHRASE})"
        )
    try:
        # paramiko wants bytes here (cryptography does); its type stubs say str.
        return paramiko.PKey.from_path(path, passphrase.encode())  # type: ignore[arg-type]
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
        fp = key.get_fingerprint()
        if fp in tried or (allowed is not None and "publickey" not in allowed):
            return False
        tried.add(fp)
        return attempt(lambda: t.auth_publickey(user, key))

    for path in host.identity_files:
        key = ctx.private_key(path)
        if isinstance(key, str):
            problems.append(key)
        elif by_key(key):
            return
    if ctx.options.use_agent and os.environ.get("SSH_AUTH_SOCK"):
        agent = paramiko.Agent()
        try:
            if any(by_key(k) for k in agent.get_keys()):
                return
        finally:
            agent.close()
    for name in _DEFAULT_KEYS:
        path = os.path.expanduser(f"~/.ssh/{name}")
        if path not in host.identity_files and os.path.exists(path):
            key = ctx.private_key(path)
            if not isinstance(key, str) and by_key(key):
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
    raise HostFailure(
        Status.AUTH_FAILED,
        f"permission denied for {where} ({len(tried)} key(s){refused} tried){detail}{hint}",
    )


def _remaining(deadline: float) -> float:
    return max(0.1, deadline - time.monotonic())
