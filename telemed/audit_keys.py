"""The audit trail's keys: a keyring of HMAC-SHA256 keys, the last one current.

The keys are not the session secret: whoever can forge a session cookie must not also be able to
rewrite the trail. They come from ``TELEMED_AUDIT_KEY`` (hex, the current key) and the key file
(``TELEMED_AUDIT_KEY_FILE``, by default ``<data_dir>/audit.key``): one ``<key id> <hex key>``
line per key, oldest first. Without either, the first run writes a new key file (mode 0600).
Rotation appends a key; the old ones stay, because the entries they signed are verified with them.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

KEY_BYTES = 32


class AuditKeyError(ValueError):
    pass


def key_id(key: bytes) -> str:
    """A name for ``key`` that tells nothing about it."""
    return hashlib.sha256(b"telemed-audit-key-id:" + key).hexdigest()[:12]


@dataclass(frozen=True)
class Keyring:
    keys: dict[str, bytes]  # key id -> key, in the order they were added
    current_id: str

    @property
    def current(self) -> bytes:
        return self.keys[self.current_id]

    def to_env(self) -> str:
        """The keyring as one line, for a child process's environment (never its argv)."""
        return ",".join(f"{kid}:{key.hex()}" for kid, key in self.keys.items()) + f";{self.current_id}"

    @classmethod
    def from_env(cls, value: str) -> "Keyring":
        pairs, _, current = value.partition(";")
        keys = {kid: bytes.fromhex(hexkey) for kid, _, hexkey in (p.partition(":") for p in pairs.split(","))}
        return cls(keys, current)


def _parse_key(text: str, where: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise AuditKeyError(f"{where}: the audit key must be hex") from None
    if len(key) < 16:
        raise AuditKeyError(f"{where}: the audit key must be at least 16 bytes (32 hex digits)")
    return key


def read_key_file(path: Path) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip() and not line.startswith("#"):
            kid, _, hexkey = line.strip().partition(" ")
            key = _parse_key(hexkey, f"{path}:{number}")
            if key_id(key) != kid:
                raise AuditKeyError(f"{path}:{number}: key id {kid} does not match its key")
            keys[kid] = key
    return keys


def append_key(path: Path, key: bytes) -> str:
    """Add ``key`` to the key file (creating it, owner-only); returns its id."""
    path.parent.mkdir(parents=True, exist_ok=True)
    kid = key_id(key)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write(f"{kid} {key.hex()}\n")
        out.flush()
        os.fsync(out.fileno())
    return kid


def load_keyring(key_file: Path, env_key: str = "", *, create: bool = True) -> Keyring:
    """The keyring from the key file and ``env_key``; with neither, a new key file."""
    keys = read_key_file(key_file) if key_file.exists() else {}
    if env_key:
        key = _parse_key(env_key, "TELEMED_AUDIT_KEY")
        keys.pop(key_id(key), None)
        keys[key_id(key)] = key
    if not keys:
        if not create:
            raise AuditKeyError(f"no audit key: set TELEMED_AUDIT_KEY or create {key_file}")
        append_key(key_file, secrets.token_bytes(KEY_BYTES))
        return load_keyring(key_file, create=False)
    return Keyring(keys, next(reversed(keys)))


def rotate(key_file: Path, env_key: str = "") -> str:
    """A new current key in the key file; returns its id."""
    if env_key:
        raise AuditKeyError("TELEMED_AUDIT_KEY is set: put the new key there, and the old one in the key file")
    return append_key(key_file, secrets.token_bytes(KEY_BYTES))
