"""Configuration: the YAML schema, its loader and the gateway's keys."""

from teamgate.config.loader import ConfigError, ConfigIssue, load_settings
from teamgate.config.schema import Credential, ModelEntry, Settings

__all__ = ["ConfigError", "ConfigIssue", "Credential", "ModelEntry", "Settings", "load_settings"]
