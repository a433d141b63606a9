"""Ansible Vault: decrypting ``$ANSIBLE_VAULT;1.1;AES256`` (and 1.2, with a label) texts.

The format (ansible-core's ``VaultAES256``): after the header line, hex of
``hex(salt) \\n hex(hmac) \\n hex(ciphertext)``. PBKDF2-HMAC-SHA256 of the
password and salt (10,000 rounds) gives 80 bytes: the AES-256 key, the HMAC key
and the CTR nonce. The HMAC-SHA256 of the ciphertext is checked before anything
is decrypted; the plaintext is PKCS#7-padded.

Decrypted values are secrets: :class:`SecretText` is the ``str`` they become, and
:func:`mask` hides every one this process has decrypted from text hostops shows
or records (the workers mask output with the values the run's Secrets carry:
hostops.redact). Vault passwords come from files (``--vault-password-file``,
``--vault-id [label@]FILE``, ``HOSTOPS_VAULT_PASSWORD_FILE``); an executable file
is run and its standard output is the password, as Ansible does.
"""

from __future__ import annotations

import binascii
import hmac
import os
import subprocess
import threading
from dataclasses import dataclass, field

from hostops.errors import ConfigError
from hostops.localenv import child_environment
from hostops.redact import MARK, Redactor

HEADER = "$ANSIBLE_VAULT"
ENV_PASSWORD_FILE = "HOSTOPS_VAULT_PASSWORD_FILE"
MASK = MARK  # what a decrypted value shows as
_ROUNDS = 10000
_SCRIPT_TIMEOUT_S = 30.0
_DEFAULT_LABEL = "default"

_decrypted: set[str] = set()  # every secret this process decrypted, for mask()
_decrypted_lock = threading.Lock()


class VaultError(ValueError):
    """A vaulted text that cannot be decrypted: malformed, or no password opens it."""


class SecretText(str):
    """A decrypted value: a ``str`` whose repr never shows it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"'{MASK}'"


@dataclass(frozen=True)
class Vaulted:
    """A vaulted value as read (``!vault |`` in YAML): the ciphertext and where it was set.

    Holds nothing secret, so it may be pickled and shown (as ``<vaulted>``).
    Turning it into text without decrypting it is an error naming the variable.
    """

    text: str
    where: str = ""  # "FILE:LINE"
    name: str = ""  # the variable, once known

    def __repr__(self) -> str:
        return "<vaulted>"

    def __str__(self) -> str:
        raise VaultError(
            f"{self.describe()} is vaulted and no vault password was given"
            f" (--vault-password-file, --vault-id or {ENV_PASSWORD_FILE})"
        )

    def describe(self) -> str:
        """``variable 'x' (FILE:LINE)``: for messages."""
        what = f"variable {self.name!r}" if self.name else "a value"
        return f"{what} ({self.where})" if self.where else what


@dataclass
class Vault:
    """The vault passwords of a run, tried in order (one whose label matches first)."""

    secrets: list[tuple[str, bytes]] = field(default_factory=list)
    # Ciphertext -> plaintext: a group's value is decrypted once, not once per host
    # (PBKDF2 costs milliseconds).
    _opened: dict[str, SecretText] = field(default_factory=dict, compare=False)

    def __repr__(self) -> str:
        return f"Vault({', '.join(label for label, _ in self.secrets) or 'no password'})"

    def decrypt(self, text: str) -> SecretText:
        """The plaintext of a vaulted text. Raises VaultError (never showing a secret)."""
        if text in self._opened:
            return self._opened[text]
        version, label, body = _parse(text)
        if not self.secrets:
            raise VaultError(
                "vaulted, and no vault password was given (--vault-password-file,"
                f" --vault-id or {ENV_PASSWORD_FILE})"
            )
        ordered = sorted(self.secrets, key=lambda s: s[0] != label) if label else self.secrets
        for _, password in ordered:
            plain = _decrypt_aes256(body, password)
            if plain is not None:
                try:
                    value = SecretText(plain.decode("utf-8"))
                except UnicodeDecodeError:
                    raise VaultError("the decrypted value is not UTF-8 text") from None
                _remember(value)
                self._opened[text] = value
                return value
        tried = ", ".join(label for label, _ in self.secrets)
        raise VaultError(f"no vault password given ({tried}) decrypts it (vault {version})")

    def value(self, item: object) -> object:
        """``item`` with every Vaulted in it (lists, mappings) decrypted. Raises VaultError
        naming the variable."""
        if isinstance(item, Vaulted):
            try:
                return self.decrypt(item.text)
            except VaultError as exc:
                raise VaultError(f"{item.describe()}: {exc}") from None
        if isinstance(item, list):
            return [self.value(v) for v in item]
        if isinstance(item, dict):
            return {k: self.value(v) for k, v in item.items()}
        return item


class Bound:
    """A vaulted value with the run's vault at hand: decrypted when turned into text (a
    template inserting it), so an unused value never needs its password. Raises
    VaultError naming the variable when no password given decrypts it."""

    __slots__ = ("_vault", "_vaulted")

    def __init__(self, vaulted: Vaulted, vault: Vault) -> None:
        self._vaulted = vaulted
        self._vault = vault

    def __str__(self) -> str:
        return str(self._vault.value(self._vaulted))

    def __repr__(self) -> str:
        return "<vaulted>"

    def plaintext(self) -> str | None:
        """The decrypted value, or None when no password given opens it."""
        try:
            return self._vault.decrypt(self._vaulted.text)
        except VaultError:
            return None


def bind(item: object, vault: Vault) -> object:
    """``item`` with every Vaulted in it (lists, mappings) made :class:`Bound` to ``vault``."""
    if isinstance(item, Vaulted):
        return Bound(item, vault)
    if isinstance(item, list):
        return [bind(v, vault) for v in item]
    if isinstance(item, dict):
        return {k: bind(v, vault) for k, v in item.items()}
    return item


def is_vaulted(data: str | bytes) -> bool:
    """Whether a file's content or a value is a vaulted text."""
    head = data.lstrip()[: len(HEADER)]
    return head == (HEADER.encode() if isinstance(data, bytes) else HEADER)


def has_vaulted(item: object) -> bool:
    """Whether ``item`` holds a Vaulted or a decrypted value anywhere (lists, mappings)."""
    if isinstance(item, (Vaulted, SecretText)):
        return True
    if isinstance(item, list):
        return any(has_vaulted(v) for v in item)
    if isinstance(item, dict):
        return any(has_vaulted(v) for v in item.values())
    return False


def _parse(text: str) -> tuple[str, str | None, bytes]:
    lines = [line.strip() for line in text.strip().splitlines()]
    if not lines:
        raise VaultError("empty vaulted text")
    header = lines[0].split(";")
    if header[0] != HEADER or len(header) < 3:
        raise VaultError("not a vaulted text (no $ANSIBLE_VAULT header)")
    version, cipher = header[1], header[2].strip()
    if version not in ("1.1", "1.2") or cipher != "AES256":
        raise VaultError(f"vault format {version};{cipher} is not supported (1.1 and 1.2 AES256)")
    label = header[3].strip() if version == "1.2" and len(header) > 3 else None
    try:
        body = binascii.unhexlify("".join(lines[1:]))
    except (binascii.Error, ValueError):
        raise VaultError("malformed vaulted text (not hexadecimal)") from None
    return version, label, body


def _decrypt_aes256(body: bytes, password: bytes) -> bytes | None:
    """The plaintext, or None when the HMAC says the password is not this one."""
    # cryptography only here: every command that reads an inventory imports this module,
    # and most never decrypt (~20 ms of start-up otherwise).
    from cryptography.hazmat.primitives import hashes, padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    try:
        salt_hex, mac_hex, data_hex = body.split(b"\n", 2)
        salt = binascii.unhexlify(salt_hex)
        expected = binascii.unhexlify(mac_hex)
        data = binascii.unhexlify(data_hex.strip())
    except (ValueError, binascii.Error):
        raise VaultError("malformed vaulted text") from None
    derived = PBKDF2HMAC(
        algorithm=hashes.SHA256(), length=80, salt=salt, iterations=_ROUNDS
    ).derive(password)
    key, mac_key, nonce = derived[:32], derived[32:64], derived[64:]
    if not hmac.compare_digest(hmac.new(mac_key, data, "sha256").digest(), expected):
        return None
    decryptor = Cipher(algorithms.AES(key), modes.CTR(nonce)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(algorithms.AES.block_size).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise VaultError("malformed vaulted text (bad padding)") from None


def _remember(value: str) -> None:
    if value:
        with _decrypted_lock:
            _decrypted.add(value)


def mask(text: str) -> str:
    """``text`` with every value this process decrypted masked (hostops.redact's rules)."""
    with _decrypted_lock:
        secrets = list(_decrypted)
    return Redactor(secrets).text(text)


def secret_leaves(item: object) -> object:
    """``item`` (a variables file's values) with every text in it a SecretText: read from
    a vault-encrypted file, each is a decrypted value."""
    if isinstance(item, str) and not isinstance(item, SecretText):
        _remember(item)
        return SecretText(item)
    if isinstance(item, list):
        return [secret_leaves(v) for v in item]
    if isinstance(item, dict):
        return {k: secret_leaves(v) for k, v in item.items()}
    return item


def load_vault(
    password_files: list[str] | tuple[str, ...] = (),
    vault_ids: list[str] | tuple[str, ...] = (),
    environ: dict[str, str] | None = None,
) -> Vault:
    """The vault passwords named on the command line (``--vault-password-file``, then each
    ``--vault-id [label@]FILE``), else by ``HOSTOPS_VAULT_PASSWORD_FILE``. Raises
    ConfigError naming the file for one that cannot be read or run."""
    env = os.environ if environ is None else environ
    specs = [(_DEFAULT_LABEL, f) for f in password_files]
    for spec in vault_ids:
        label, at, path = spec.rpartition("@")
        specs.append((label if at and label else _DEFAULT_LABEL, path))
    if not specs and env.get(ENV_PASSWORD_FILE):
        specs.append((_DEFAULT_LABEL, env[ENV_PASSWORD_FILE]))
    return Vault([(label, _read_password(path)) for label, path in specs])


def _read_password(path: str) -> bytes:
    """A password file's first line, or an executable's standard output (stripped)."""
    if path == "prompt":
        raise ConfigError("asking for vault passwords is not supported: give a file", path=path)
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise ConfigError("vault password file: no such file", path=path)
    if os.access(path, os.X_OK):
        try:
            done = subprocess.run(
                [os.path.abspath(path)],
                env=child_environment(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=_SCRIPT_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConfigError(f"vault password script failed: {exc}", path=path) from None
        if done.returncode != 0:
            stderr = done.stderr.decode("utf-8", "replace").strip()[:200]
            raise ConfigError(
                f"vault password script exited with {done.returncode}: {stderr}", path=path
            )
        data = done.stdout
    else:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the vault password file: {exc.strerror}", path=path
            ) from None
    password = data.strip().splitlines()[0] if data.strip() else b""
    if not password:
        raise ConfigError("the vault password file is empty", path=path)
    return password
