"""Configuration loading, validation by key path, and the gateway's admin and client keys."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path
from typing import Any

import pytest

from teamgate.config.keys import (
    ADMIN_KEY_FILE,
    build_keyring,
    check_key_strength,
    check_keys,
    default_data_dir,
)
from teamgate.config.loader import (
    DEFAULT_GEMINI_MODELS,
    ConfigError,
    ConfigIssue,
    load_settings,
    validate_settings,
)
from teamgate.config.schema import Settings

STRONG_KEY = "sk-strong-admin-key-5d1f0c9a7e"
UPSTREAM_KEY = "upstream-key-for-config-tests"
ENV = {"ADMIN": STRONG_KEY, "GEMINI_KEY": UPSTREAM_KEY, "PROXY_URL": "socks5://127.0.0.1:1080"}

VALID_YAML = """\
admin_key: os.environ/ADMIN
credentials:
  - id: main
    api_key: ${GEMINI_KEY}
    base_url: http://127.0.0.1:9/
    proxy: os.environ/PROXY_URL
models:
  - name: fast
    upstream_model: gemini-2.5-flash
    credentials: [main]
    thinking: {budget: 2048}
    show_thoughts: false
    max_output_tokens: 512
    safety_settings: {HARASSMENT: BLOCK_NONE}
"""


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "teamgate.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load_issues(tmp_path: Path, text: str) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(tmp_path, text), env=ENV)
    return caught.value.issues


def load_errors(tmp_path: Path, text: str) -> dict[str, str]:
    """Load `text`, expect it to fail, and map each key path to its messages, one per line."""
    errors: dict[str, str] = {}
    for issue in load_issues(tmp_path, text):
        errors[issue.path] = "\n".join(filter(None, [errors.get(issue.path), issue.message]))
    return errors


def settings_from(raw: dict[str, Any]) -> Settings:
    return validate_settings(raw, {}, source="test", resolve_secrets=False)


# Loading a valid file


def test_valid_file_admin_key_resolved(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, VALID_YAML), env=ENV)
    assert settings.admin_key is not None
    assert settings.admin_key.get_secret_value() == STRONG_KEY


def test_valid_file_braced_reference(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, VALID_YAML), env=ENV)
    assert settings.credentials[0].api_key.get_secret_value() == UPSTREAM_KEY


def test_valid_file_base_url_and_proxy(tmp_path: Path) -> None:
    credential = load_settings(write_config(tmp_path, VALID_YAML), env=ENV).credentials[0]
    assert credential.base_url == "http://127.0.0.1:9"
    assert credential.proxy == "socks5://127.0.0.1:1080"


def test_valid_file_model_defaults(tmp_path: Path) -> None:
    model = load_settings(write_config(tmp_path, VALID_YAML), env=ENV).models[0]
    assert model.upstream_model == "gemini-2.5-flash"
    assert model.credentials == ["main"]
    assert model.thinking is not None
    assert model.thinking.budget == 2048
    assert model.show_thoughts is False
    assert model.max_output_tokens == 512


def test_safety_short_form_expanded(tmp_path: Path) -> None:
    model = load_settings(write_config(tmp_path, VALID_YAML), env=ENV).models[0]
    assert len(model.safety_settings) == 1
    assert model.safety_settings[0].category == "HARM_CATEGORY_HARASSMENT"
    assert model.safety_settings[0].threshold == "BLOCK_NONE"


def test_safety_list_form_accepted() -> None:
    settings = settings_from(
        {
            "credentials": [{"id": "a", "api_key": UPSTREAM_KEY}],
            "models": [
                {
                    "name": "m",
                    "upstream_model": "gemini-2.5-flash",
                    "safety_settings": [
                        {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "OFF"}
                    ],
                }
            ],
        }
    )
    assert settings.models[0].safety_settings[0].category == "HARM_CATEGORY_HATE_SPEECH"


def test_secret_never_in_repr(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, VALID_YAML), env=ENV)
    assert UPSTREAM_KEY not in repr(settings)
    assert STRONG_KEY not in repr(settings)


def test_file_without_models_gets_defaults(tmp_path: Path) -> None:
    text = "credentials:\n  - id: main\n    api_key: os.environ/GEMINI_KEY\n"
    settings = load_settings(write_config(tmp_path, text), env=ENV)
    assert [model.name for model in settings.models] == list(DEFAULT_GEMINI_MODELS)


def test_empty_file_has_no_models(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, ""), env=ENV)
    assert settings.credentials == []
    assert settings.models == []


# Secrets written in the file


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("admin_key: sk-literal-admin-key-0123456789\n", "admin_key"),
        ("api_keys: [os.environ/ADMIN, sk-literal-client-key-0123]\n", "api_keys[1]"),
        (
            "credentials:\n  - id: a\n    api_key: AIzaLiteralKey0123456789\n",
            "credentials[0].api_key",
        ),
        (
            "credentials:\n  - id: a\n    api_key: os.environ/GEMINI_KEY\n"
            "  - id: b\n    api_key: literal-second-key\n",
            "credentials[1].api_key",
        ),
    ],
)
def test_literal_secret_rejected(tmp_path: Path, text: str, path: str) -> None:
    errors = load_errors(tmp_path, text)
    assert list(errors) == [path]
    assert "os.environ/NAME" in errors[path]


def test_literal_secret_inside_reference_text(tmp_path: Path) -> None:
    # Only a whole-value reference counts, so text around ${NAME} makes the value a literal.
    errors = load_errors(tmp_path, "admin_key: prefix-${ADMIN}\n")
    assert "admin_key" in errors
    assert "must not be written in the file" in errors["admin_key"]


def test_literal_secret_not_echoed(tmp_path: Path) -> None:
    literal = "AIzaLiteralKeyThatMustNotAppear01"
    text = f"credentials:\n  - id: a\n    api_key: {literal}\n"
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(tmp_path, text), env=ENV)
    assert literal not in str(caught.value)


# Missing environment variables and invalid references


def test_missing_env_names_path_and_variable(tmp_path: Path) -> None:
    text = "credentials:\n  - id: a\n    api_key: os.environ/NOT_SET_ANYWHERE\n"
    errors = load_errors(tmp_path, text)
    assert list(errors) == ["credentials[0].api_key"]
    assert "NOT_SET_ANYWHERE" in errors["credentials[0].api_key"]


def test_missing_braced_env_names_variable(tmp_path: Path) -> None:
    errors = load_errors(tmp_path, "admin_key: ${ALSO_NOT_SET}\n")
    assert "ALSO_NOT_SET" in errors["admin_key"]


def test_missing_env_for_plain_value(tmp_path: Path) -> None:
    text = (
        "credentials:\n  - id: a\n    api_key: os.environ/GEMINI_KEY\n"
        "    proxy: os.environ/NO_SUCH_PROXY\n"
    )
    errors = load_errors(tmp_path, text)
    assert "NO_SUCH_PROXY" in errors["credentials[0].proxy"]


def test_missing_env_one_issue(tmp_path: Path) -> None:
    text = (
        "credentials:\n  - id: a\n    api_key: os.environ/GEMINI_KEY\n"
        "    base_url: ${NO_SUCH_URL}\n"
    )
    paths = [issue.path for issue in load_issues(tmp_path, text)]
    assert paths == ["credentials[0].base_url"]


def test_invalid_env_name_rejected(tmp_path: Path) -> None:
    errors = load_errors(tmp_path, "admin_key: os.environ/1BAD-NAME\n")
    assert "not a valid environment variable name" in errors["admin_key"]


# Schema errors


def test_unknown_key_names_path(tmp_path: Path) -> None:
    text = "credentials:\n  - id: a\n    api_key: os.environ/GEMINI_KEY\n    base_ulr: http://x\n"
    errors = load_errors(tmp_path, text)
    assert list(errors) == ["credentials[0].base_ulr"]
    assert "unknown key" in errors["credentials[0].base_ulr"]


def test_unknown_top_level_key(tmp_path: Path) -> None:
    errors = load_errors(tmp_path, "model: []\n")
    assert "model" in errors


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("models: {name: m}\n", "models"),
        ("credentials:\n  - id: a\n    api_key: os.environ/GEMINI_KEY\n"
         "models:\n  - {name: m, upstream_model: gemini-2.5-flash, max_output_tokens: many}\n",
         "models[0].max_output_tokens"),
        ("credentials:\n  - id: a\n    api_key: os.environ/GEMINI_KEY\n"
         "models:\n  - {name: m, upstream_model: gemini-2.5-flash, show_thoughts: maybe}\n",
         "models[0].show_thoughts"),
        ("credentials:\n  - id: a\n    api_key: os.environ/GEMINI_KEY\n"
         "    timeouts: {connect: -1}\n",
         "credentials[0].timeouts.connect"),
        ("credentials:\n  - id: a\n    api_key: os.environ/GEMINI_KEY\n"
         "models:\n  - {name: m, upstream_model: gemini-2.5-flash, max_output_tokens: 0}\n",
         "models[0].max_output_tokens"),
        ("credentials:\n  - id: a\n    api_key: os.environ/GEMINI_KEY\n    base_url: ftp://host\n",
         "credentials[0].base_url"),
    ],
)  # fmt: skip
def test_wrong_type_names_path(tmp_path: Path, text: str, path: str) -> None:
    errors = load_errors(tmp_path, text)
    assert path in errors


def test_missing_required_key(tmp_path: Path) -> None:
    errors = load_errors(tmp_path, "credentials:\n  - id: a\n")
    assert "credentials[0].api_key" in errors
    assert "missing" in errors["credentials[0].api_key"]


@pytest.mark.parametrize("proxy", ["ftp://127.0.0.1:21", "127.0.0.1:1080", "socks9://127.0.0.1"])
def test_invalid_proxy_scheme(tmp_path: Path, proxy: str) -> None:
    text = f"credentials:\n  - id: a\n    api_key: os.environ/GEMINI_KEY\n    proxy: '{proxy}'\n"
    errors = load_errors(tmp_path, text)
    assert "credentials[0].proxy" in errors
    assert "socks5://" in errors["credentials[0].proxy"]


@pytest.mark.parametrize(
    "proxy",
    [
        "http://127.0.0.1:3128",
        "socks4://127.0.0.1:1080",
        "socks5://127.0.0.1:1080",
        "socks5h://user:pw@127.0.0.1:1",
    ],
)
def test_valid_proxy_schemes(proxy: str) -> None:
    settings = settings_from({"credentials": [{"id": "a", "api_key": "k", "proxy": proxy}]})
    assert settings.credentials[0].proxy == proxy


def test_unknown_safety_category(tmp_path: Path) -> None:
    text = (
        "credentials:\n  - id: a\n    api_key: os.environ/GEMINI_KEY\n"
        "models:\n  - name: m\n    upstream_model: gemini-2.5-flash\n"
        "    safety_settings: {HARASMENT: BLOCK_NONE}\n"
    )
    errors = load_errors(tmp_path, text)
    assert "models[0].safety_settings[0].category" in errors
    assert "HARASMENT" in errors["models[0].safety_settings[0].category"]


def test_unknown_safety_threshold(tmp_path: Path) -> None:
    text = (
        "credentials:\n  - id: a\n    api_key: os.environ/GEMINI_KEY\n"
        "models:\n  - name: m\n    upstream_model: gemini-2.5-flash\n"
        "    safety_settings: {HARASSMENT: BLOCK_ALL}\n"
    )
    errors = load_errors(tmp_path, text)
    assert "models[0].safety_settings[0].threshold" in errors


def test_thinking_budget_and_level(tmp_path: Path) -> None:
    text = (
        "credentials:\n  - id: a\n    api_key: os.environ/GEMINI_KEY\n"
        "models:\n  - name: m\n    upstream_model: gemini-2.5-flash\n"
        "    thinking: {budget: 1024, level: high}\n"
    )
    errors = load_errors(tmp_path, text)
    assert list(errors) == ["models[0].thinking"]
    assert "only one of" in errors["models[0].thinking"]


def test_thinking_unknown_level(tmp_path: Path) -> None:
    text = (
        "credentials:\n  - id: a\n    api_key: os.environ/GEMINI_KEY\n"
        "models:\n  - name: m\n    upstream_model: gemini-3-flash-preview\n"
        "    thinking: {level: extreme}\n"
    )
    errors = load_errors(tmp_path, text)
    assert "models[0].thinking.level" in errors


# Cross-references between credentials and models


def test_model_unknown_credential(tmp_path: Path) -> None:
    text = (
        "credentials:\n  - id: main\n    api_key: os.environ/GEMINI_KEY\n"
        "models:\n  - name: m\n    upstream_model: gemini-2.5-flash\n"
        "    credentials: [main, mian]\n"
    )
    errors = load_errors(tmp_path, text)
    assert list(errors) == ["models[0].credentials[1]"]
    assert "'mian'" in errors["models[0].credentials[1]"]


def test_duplicate_credential_id(tmp_path: Path) -> None:
    text = (
        "credentials:\n  - id: main\n    api_key: os.environ/GEMINI_KEY\n"
        "  - id: main\n    api_key: os.environ/ADMIN\n"
    )
    errors = load_errors(tmp_path, text)
    assert list(errors) == ["credentials[1].id"]


def test_duplicate_model_name(tmp_path: Path) -> None:
    text = (
        "credentials:\n  - id: main\n    api_key: os.environ/GEMINI_KEY\n"
        "models:\n  - {name: m, upstream_model: gemini-2.5-flash}\n"
        "  - {name: m, upstream_model: gemini-2.5-pro}\n"
    )
    errors = load_errors(tmp_path, text)
    assert list(errors) == ["models[1].name"]


def test_models_without_credentials(tmp_path: Path) -> None:
    errors = load_errors(tmp_path, "models:\n  - {name: m, upstream_model: gemini-2.5-flash}\n")
    assert "credentials" in errors


# Several problems at once


def test_every_error_reported(tmp_path: Path) -> None:
    text = (
        "admin_key: sk-literal-admin-0123456789\n"
        "credentials:\n"
        "  - id: a\n    api_key: os.environ/UNSET_ONE\n    proxy: ftp://127.0.0.1\n"
        "  - id: b\n    api_key: os.environ/GEMINI_KEY\n    apikey: x\n"
        "models:\n"
        "  - {name: m, upstream_model: gemini-2.5-flash, thinking: {budget: 1, level: low}}\n"
    )
    errors = load_errors(tmp_path, text)
    assert "admin_key" in errors
    assert "credentials[0].api_key" in errors
    assert "credentials[0].proxy" in errors
    assert "credentials[1].apikey" in errors
    assert "models[0].thinking" in errors


def test_every_reference_error_reported(tmp_path: Path) -> None:
    text = (
        "credentials:\n  - id: a\n    api_key: os.environ/GEMINI_KEY\n"
        "  - id: a\n    api_key: os.environ/GEMINI_KEY\n"
        "models:\n  - {name: m, upstream_model: gemini-2.5-flash, credentials: [zz]}\n"
        "  - {name: m, upstream_model: gemini-2.5-flash}\n"
    )
    errors = load_errors(tmp_path, text)
    assert "credentials[1].id" in errors
    assert "models[0].credentials[0]" in errors
    assert "models[1].name" in errors


def test_reference_and_schema_errors(tmp_path: Path) -> None:
    text = (
        "credentials:\n  - id: a\n    api_key: os.environ/GEMINI_KEY\n    apikey: x\n"
        "models:\n  - {name: m, upstream_model: gemini-2.5-flash, credentials: [zz]}\n"
    )
    errors = load_errors(tmp_path, text)
    assert "credentials[0].apikey" in errors
    assert "models[0].credentials[0]" in errors


def test_error_message_lists_paths(tmp_path: Path) -> None:
    text = "admin_key: ${UNSET_ADMIN}\ncredentials:\n  - id: a\n    api_key: literal-value\n"
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(tmp_path, text), env=ENV)
    message = str(caught.value)
    assert str(tmp_path / "teamgate.yaml") in message
    assert "  - admin_key: " in message
    assert "  - credentials[0].api_key: " in message


# Files that cannot be read


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "absent.yaml", env=ENV)
    assert "cannot read the file" in str(caught.value)


def test_invalid_yaml(tmp_path: Path) -> None:
    errors = load_errors(tmp_path, "credentials: [unclosed\n")
    assert "not valid YAML" in errors[""]


def test_top_level_list(tmp_path: Path) -> None:
    errors = load_errors(tmp_path, "- a\n- b\n")
    assert "mapping" in errors[""]


# No file: settings from the environment


def test_env_only_single_key() -> None:
    settings = load_settings(None, env={"GEMINI_API_KEY": UPSTREAM_KEY})
    assert [credential.id for credential in settings.credentials] == ["gemini-env-1"]
    assert settings.credentials[0].api_key.get_secret_value() == UPSTREAM_KEY


def test_env_only_default_models() -> None:
    settings = load_settings(None, env={"GEMINI_API_KEY": UPSTREAM_KEY})
    assert [model.name for model in settings.models] == list(DEFAULT_GEMINI_MODELS)
    assert [model.upstream_model for model in settings.models] == list(DEFAULT_GEMINI_MODELS)


def test_env_only_several_keys() -> None:
    settings = load_settings(None, env={"GEMINI_API_KEY": "key-one, key-two,,key-three "})
    keys = [credential.api_key.get_secret_value() for credential in settings.credentials]
    assert keys == ["key-one", "key-two", "key-three"]
    assert len({credential.id for credential in settings.credentials}) == 3


def test_env_only_admin_key() -> None:
    settings = load_settings(
        None, env={"GEMINI_API_KEY": UPSTREAM_KEY, "TEAMGATE_ADMIN_KEY": STRONG_KEY}
    )
    assert settings.admin_key is not None
    assert settings.admin_key.get_secret_value() == STRONG_KEY


def test_data_dir_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAMGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "data"


def test_data_dir_from_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEAMGATE_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "teamgate"


def test_env_only_base_url() -> None:
    env = {"GEMINI_API_KEY": UPSTREAM_KEY, "GEMINI_BASE_URL": "http://127.0.0.1:9/"}
    settings = load_settings(None, env=env)
    assert settings.credentials[0].base_url == "http://127.0.0.1:9"


@pytest.mark.parametrize("value", [None, "", " , "])
def test_env_only_without_key(value: str | None) -> None:
    env = {} if value is None else {"GEMINI_API_KEY": value}
    with pytest.raises(ConfigError) as caught:
        load_settings(None, env=env)
    assert "GEMINI_API_KEY" in str(caught.value)
    assert "--config" in str(caught.value)


# Key strength


@pytest.mark.parametrize(
    "key", ["sk-1234", "SK-1234", " sk-1234 ", "changeme", "", "   ", "sk-short-key"]
)
def test_weak_key_rejected(key: str) -> None:
    issue = check_key_strength(key, "admin_key")
    assert issue is not None
    assert issue.path == "admin_key"


def test_strong_key_accepted() -> None:
    assert check_key_strength(STRONG_KEY, "admin_key") is None


def test_check_keys_paths() -> None:
    settings = settings_from({"admin_key": "sk-1234", "api_keys": [STRONG_KEY, "short"]})
    assert [issue.path for issue in check_keys(settings)] == ["admin_key", "api_keys[1]"]


def test_keyring_rejects_weak_admin(tmp_path: Path) -> None:
    settings = settings_from({"admin_key": "sk-1234"})
    with pytest.raises(ConfigError) as caught:
        build_keyring(settings, tmp_path)
    assert [issue.path for issue in caught.value.issues] == ["admin_key"]


def test_keyring_rejects_weak_client_key(tmp_path: Path) -> None:
    settings = settings_from({"admin_key": STRONG_KEY, "api_keys": [""]})
    with pytest.raises(ConfigError) as caught:
        build_keyring(settings, tmp_path)
    assert [issue.path for issue in caught.value.issues] == ["api_keys[0]"]


# The keyring


def test_keyring_accepts_configured_keys(tmp_path: Path) -> None:
    client_key = "sk-client-key-a6b0e2f81c"
    keyring = build_keyring(
        settings_from({"admin_key": STRONG_KEY, "api_keys": [client_key]}), tmp_path
    )
    assert keyring.accepts(STRONG_KEY)
    assert keyring.accepts(client_key)
    assert not keyring.accepts("sk-client-key-a6b0e2f81d")
    assert keyring.generated_admin_key is None


def test_keyring_configured_admin_writes_nothing(tmp_path: Path) -> None:
    build_keyring(settings_from({"admin_key": STRONG_KEY}), tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_keyring_extra_keys(tmp_path: Path) -> None:
    keyring = build_keyring(
        settings_from({}), tmp_path, extra_keys=("sk-demo",), persist_admin=False
    )
    assert keyring.accepts("sk-demo")


def test_keyring_demo_stores_nothing(tmp_path: Path) -> None:
    keyring = build_keyring(settings_from({}), tmp_path / "data", persist_admin=False)
    assert keyring.generated_admin_key is None
    assert not (tmp_path / "data").exists()


def test_generated_admin_key_works(tmp_path: Path) -> None:
    keyring = build_keyring(settings_from({}), tmp_path / "data")
    assert keyring.generated_admin_key is not None
    assert keyring.accepts(keyring.generated_admin_key)
    assert check_key_strength(keyring.generated_admin_key, "admin_key") is None


def test_generated_admin_key_stored_hashed(tmp_path: Path) -> None:
    keyring = build_keyring(settings_from({}), tmp_path / "data")
    assert keyring.generated_admin_key is not None
    stored = (tmp_path / "data" / ADMIN_KEY_FILE).read_text(encoding="ascii")
    expected = hashlib.sha256(keyring.generated_admin_key.encode()).hexdigest()
    assert stored.strip() == expected
    assert keyring.generated_admin_key not in stored


def test_generated_admin_key_file_mode(tmp_path: Path) -> None:
    build_keyring(settings_from({}), tmp_path / "data")
    mode = (tmp_path / "data" / ADMIN_KEY_FILE).stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_generated_admin_key_dir_mode(tmp_path: Path) -> None:
    build_keyring(settings_from({}), tmp_path / "data")
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) & 0o077 == 0


def test_second_start_reuses_admin_key(tmp_path: Path) -> None:
    first = build_keyring(settings_from({}), tmp_path / "data")
    second = build_keyring(settings_from({}), tmp_path / "data")
    assert first.generated_admin_key is not None
    assert second.generated_admin_key is None
    assert second.accepts(first.generated_admin_key)
    assert second.admin_digest == first.admin_digest


def test_corrupt_digest_file_replaced(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / ADMIN_KEY_FILE).write_text("not a digest\n", encoding="ascii")
    keyring = build_keyring(settings_from({}), data_dir)
    assert keyring.generated_admin_key is not None
    assert keyring.accepts(keyring.generated_admin_key)


def test_empty_secret_variable_rejected(tmp_path: Path) -> None:
    text = "credentials:\n  - id: a\n    api_key: os.environ/EMPTY_KEY\n"
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(tmp_path, text), env={**ENV, "EMPTY_KEY": ""})
    paths = [issue.path for issue in caught.value.issues]
    assert paths == ["credentials[0].api_key"]
    assert "EMPTY_KEY is empty" in caught.value.issues[0].message


def test_api_key_with_newline_rejected(tmp_path: Path) -> None:
    text = "credentials:\n  - id: a\n    api_key: os.environ/BAD_KEY\n"
    with pytest.raises(ConfigError) as caught:
        load_settings(write_config(tmp_path, text), env={**ENV, "BAD_KEY": "AIza-abc\r\nX-Evil: 1"})
    assert [issue.path for issue in caught.value.issues] == ["credentials[0].api_key"]
    assert "AIza-abc" not in str(caught.value)


@pytest.mark.parametrize("model", ["../../_log/x", "models/gemini-2.5-flash", "a/b", ".hidden"])
def test_upstream_model_path_rejected(tmp_path: Path, model: str) -> None:
    text = (
        "credentials:\n  - id: a\n    api_key: os.environ/GEMINI_KEY\n"
        f"models:\n  - {{name: m, upstream_model: '{model}'}}\n"
    )
    assert "models[0].upstream_model" in load_errors(tmp_path, text)


def test_database_url_literal_without_password(tmp_path: Path) -> None:
    text = VALID_YAML + "accounting:\n  database_url: sqlite+aiosqlite:////var/lib/tg.db\n"
    settings = load_settings(write_config(tmp_path, text), env=ENV)
    assert settings.accounting.database_url is not None
    assert settings.accounting.database_url.get_secret_value().endswith("tg.db")


def test_database_url_with_password_must_be_referenced(tmp_path: Path) -> None:
    text = (
        VALID_YAML + "accounting:\n  database_url: postgresql+asyncpg://tg:hunter2@127.0.0.1/tg\n"
    )
    errors = load_errors(tmp_path, text)
    assert "accounting.database_url" in errors
    assert "hunter2" not in str(errors)


def test_unknown_timezone_rejected(tmp_path: Path) -> None:
    errors = load_errors(tmp_path, VALID_YAML + "accounting:\n  timezone: Mars/Olympus\n")
    assert "Asia/Shanghai" in errors["accounting.timezone"]
