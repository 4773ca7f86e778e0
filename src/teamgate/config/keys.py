"""The admin key and the client keys accepted by the gateway, kept only as SHA-256 digests."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from teamgate.config.loader import ConfigError, ConfigIssue
from teamgate.config.schema import Settings

# Values copied from quick-start guides; a gateway guarded by one of them is open to anyone.
WELL_KNOWN_KEYS = frozenset(
    {
        "sk-1234",
        "sk-12345",
        "sk-123456",
        "sk-1234567890",
        "sk-test",
        "sk-admin",
        "sk-master",
        "sk-xxx",
        "sk-demo",
        "admin",
        "password",
        "changeme",
        "secret",
        "test",
        "123456",
    }
)
MIN_KEY_LENGTH = 16
ADMIN_KEY_FILE = "admin_key.sha256"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class KeyRing:
    """Digests of every key that may call the API; the admin key is one of them."""

    admin_digest: str
    client_digests: frozenset[str]
    generated_admin_key: str | None = None
    """The admin key created on this start, to be printed once; None otherwise."""

    def accepts(self, key: str) -> bool:
        return digest(key) in self.client_digests


def default_data_dir() -> Path:
    """Return TEAMGATE_DATA_DIR, else `$XDG_DATA_HOME/teamgate` (`~/.local/share/teamgate`)."""
    if os.environ.get("TEAMGATE_DATA_DIR"):
        return Path(os.environ["TEAMGATE_DATA_DIR"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "teamgate"


def check_key_strength(key: str, path: str) -> ConfigIssue | None:
    if not key.strip():
        return ConfigIssue(path, "the key is empty; set a long random value")
    if key.strip().lower() in WELL_KNOWN_KEYS:
        return ConfigIssue(path, "the key is a well-known example value; set a long random value")
    if len(key.strip()) < MIN_KEY_LENGTH:
        return ConfigIssue(
            path, f"the key is shorter than {MIN_KEY_LENGTH} characters; set a long random value"
        )
    return None


def check_keys(settings: Settings) -> list[ConfigIssue]:
    """List the configured keys that are empty, too short or well-known examples."""
    issues = []
    if settings.admin_key is not None:
        issue = check_key_strength(settings.admin_key.get_secret_value(), "admin_key")
        if issue:
            issues.append(issue)
    for index, secret in enumerate(settings.api_keys):
        issue = check_key_strength(secret.get_secret_value(), f"api_keys[{index}]")
        if issue:
            issues.append(issue)
    return issues


def build_keyring(
    settings: Settings,
    data_dir: Path,
    *,
    extra_keys: tuple[str, ...] = (),
    persist_admin: bool = True,
    source: str = "the configuration",
) -> KeyRing:
    """Check the configured keys, or create and store an admin key on first start.

    With `persist_admin` false and no admin key configured (demo mode), the
    admin key is a random value that is neither stored nor shown.
    """
    issues = check_keys(settings)
    if issues:
        raise ConfigError(source, issues)
    generated: str | None = None
    if settings.admin_key is not None:
        admin_digest = digest(settings.admin_key.get_secret_value())
    elif persist_admin:
        admin_digest, generated = _stored_or_new_admin_digest(data_dir)
    else:
        admin_digest = digest(secrets.token_urlsafe(32))
    client = {admin_digest}
    client.update(digest(secret.get_secret_value()) for secret in settings.api_keys)
    client.update(digest(key) for key in extra_keys)
    return KeyRing(admin_digest, frozenset(client), generated)


def _stored_or_new_admin_digest(data_dir: Path) -> tuple[str, str | None]:
    path = data_dir / ADMIN_KEY_FILE
    if path.exists():
        stored = path.read_text(encoding="ascii").strip()
        if len(stored) == 64:
            return stored, None
    key = "sk-tg-" + secrets.token_urlsafe(32)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(digest(key) + "\n")
    return digest(key), key
