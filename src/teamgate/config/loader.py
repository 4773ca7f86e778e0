"""Load the YAML configuration, resolve secret references and report every error by key path."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import ValidationError

from teamgate.config.schema import Settings

# Keys whose values are secrets: they must be references, never literal values.
SECRET_KEYS = frozenset({"api_key", "admin_key", "api_keys"})
# Server URLs may be literal unless they carry a password.
URL_KEYS = frozenset({"database_url", "redis_url"})

# The Gemini text models exposed when the configuration names none.
DEFAULT_GEMINI_MODELS = (
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-3-flash-preview",
    "gemini-3.1-pro-preview",
)

_ENV_PREFIX = "os.environ/"
_BRACED = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ConfigIssue:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.message}"


class ConfigError(Exception):
    """The configuration is invalid; `issues` lists every problem found."""

    def __init__(self, source: str, issues: list[ConfigIssue]) -> None:
        self.source = source
        self.issues = issues
        lines = "\n".join(f"  - {issue}" for issue in issues)
        super().__init__(f"invalid configuration in {source}:\n{lines}")


def load_settings(path: str | Path | None, env: Mapping[str, str] | None = None) -> Settings:
    """Read `path` (or build defaults from the environment when it is None) and validate it."""
    environ = os.environ if env is None else env
    if path is None:
        return _settings_from_environment(environ)
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            source, [ConfigIssue("", f"cannot read the file: {exc.strerror}")]
        ) from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(source, [ConfigIssue("", f"not valid YAML: {exc}")]) from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(source, [ConfigIssue("", "the file must contain a mapping of keys")])
    return validate_settings(raw, environ, source=source)


def validate_settings(
    raw: dict[str, Any], env: Mapping[str, str], *, source: str, resolve_secrets: bool = True
) -> Settings:
    """Resolve references in `raw`, validate it and apply defaults; raise ConfigError on problems.

    `resolve_secrets=False` takes `raw` as already resolved (settings built in code).
    """
    issues: list[ConfigIssue] = []
    resolved = _resolve(raw, "", env, issues, secret=False) if resolve_secrets else raw
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(resolved)
    except ValidationError as exc:
        # A value already reported (an unset variable, say) gets no second message.
        reported = {issue.path for issue in issues}
        issues.extend(issue for issue in _issues_from_pydantic(exc) if issue.path not in reported)
    issues.extend(_check_references(resolved))
    if issues or settings is None:
        raise ConfigError(source, issues)
    return _with_default_models(settings)


def _settings_from_environment(env: Mapping[str, str]) -> Settings:
    keys = [key.strip() for key in env.get("GEMINI_API_KEY", "").split(",") if key.strip()]
    if not keys:
        raise ConfigError(
            "the environment",
            [
                ConfigIssue(
                    "",
                    "no configuration file was given and GEMINI_API_KEY is not set; "
                    "pass --config FILE, set TEAMGATE_CONFIG, or export GEMINI_API_KEY",
                )
            ],
        )
    credentials: list[dict[str, Any]] = []
    for index, key in enumerate(keys):
        credential: dict[str, Any] = {"id": f"gemini-env-{index + 1}", "api_key": key}
        if env.get("GEMINI_BASE_URL"):
            credential["base_url"] = env["GEMINI_BASE_URL"]
        credentials.append(credential)
    raw: dict[str, Any] = {"credentials": credentials}
    if env.get("TEAMGATE_ADMIN_KEY"):
        raw["admin_key"] = env["TEAMGATE_ADMIN_KEY"]
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError("the environment", _issues_from_pydantic(exc)) from None
    return _with_default_models(settings)


def _with_default_models(settings: Settings) -> Settings:
    if settings.models or not settings.credentials:
        return settings
    models = [{"name": name, "upstream_model": name} for name in DEFAULT_GEMINI_MODELS]
    return settings.model_copy(
        update={"models": Settings.model_validate({"models": models}).models}
    )


def _resolve(
    value: Any, path: str, env: Mapping[str, str], issues: list[ConfigIssue], *, secret: bool
) -> Any:
    """Replace `os.environ/NAME` and `${NAME}` references; reject literal secrets."""
    if isinstance(value, dict):
        return {
            key: _resolve(item, _join(path, key), env, issues, secret=secret or key in SECRET_KEYS)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _resolve(item, f"{path}[{index}]", env, issues, secret=secret)
            for index, item in enumerate(value)
        ]
    if not isinstance(value, str):
        return value
    name = _reference_name(value)
    if name is None:
        if secret or (path.rsplit(".", 1)[-1] in URL_KEYS and _has_password(value)):
            issues.append(
                ConfigIssue(
                    path,
                    "secrets must not be written in the file; put the value in an "
                    "environment variable and write os.environ/NAME or ${NAME} here",
                )
            )
        return value
    if not _ENV_NAME.match(name):
        issues.append(ConfigIssue(path, f"{name!r} is not a valid environment variable name"))
        return value
    if name not in env:
        issues.append(ConfigIssue(path, f"environment variable {name} is not set; export it"))
        return ""
    if secret and not env[name].strip():
        issues.append(ConfigIssue(path, f"environment variable {name} is empty; set the secret"))
    return env[name]


def _has_password(url: str) -> bool:
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return False


def _reference_name(value: str) -> str | None:
    if value.startswith(_ENV_PREFIX):
        return value[len(_ENV_PREFIX) :]
    match = _BRACED.match(value)
    return match.group(1) if match else None


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _issues_from_pydantic(exc: ValidationError) -> list[ConfigIssue]:
    issues = []
    for error in exc.errors(include_url=False, include_input=False):
        path = ""
        for part in error["loc"]:
            path = f"{path}[{part}]" if isinstance(part, int) else _join(path, part)
        issues.append(ConfigIssue(path, _explain(error["type"], error["msg"])))
    return issues


def _explain(kind: str, message: str) -> str:
    if kind == "extra_forbidden":
        return "unknown key; check its spelling and where it is nested"
    if kind == "missing":
        return "required key is missing; add it"
    return message.removeprefix("Value error, ")


def _check_references(raw: dict[str, Any]) -> list[ConfigIssue]:
    """Check ids and the credentials that models name, on the raw data.

    Working on the raw mapping reports these problems together with schema
    errors elsewhere in the file. Malformed entries are skipped here, because
    the schema check reports them.
    """
    issues: list[ConfigIssue] = []
    credentials = _entries(raw.get("credentials"))
    models = _entries(raw.get("models"))
    known = _unique_values(credentials, "credentials", "id", "duplicate id", issues)
    _unique_values(models, "models", "name", "duplicate model name", issues)
    for index, model in models:
        names = model.get("credentials")
        if not isinstance(names, list):
            continue
        for position, credential_id in enumerate(names):
            if isinstance(credential_id, str) and credential_id not in known:
                issues.append(
                    ConfigIssue(
                        f"models[{index}].credentials[{position}]",
                        f"unknown credential {credential_id!r}; declare it under credentials",
                    )
                )
    if models and not credentials:
        issues.append(
            ConfigIssue("credentials", "models are declared but no credential serves them")
        )
    return issues


def _entries(value: object) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(value, list):
        return []
    return [(index, item) for index, item in enumerate(value) if isinstance(item, dict)]


def _unique_values(
    entries: list[tuple[int, dict[str, Any]]],
    section: str,
    key: str,
    problem: str,
    issues: list[ConfigIssue],
) -> set[str]:
    seen: set[str] = set()
    for index, entry in entries:
        value = entry.get(key)
        if not isinstance(value, str):
            continue
        if value in seen:
            issues.append(ConfigIssue(f"{section}[{index}].{key}", f"{problem} {value!r}"))
        seen.add(value)
    return seen
