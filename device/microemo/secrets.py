"""Secrets come from the environment or systemd credentials, never from the config file.

Looked up in order: the environment variable (``MICROEMO_MQTT_PASSWORD``), then the file of
that name in ``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=mqtt_password:/etc/...``,
readable only by the service). The config model has no password field, so a password typed
into the TOML is refused as an unknown key. Values are never logged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger(__name__)

ENV_PREFIX = "MICROEMO_"


def get_secret(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The secret ``name`` (e.g. ``mqtt_password``), or None when it is not provided.

    A credential file's trailing newline is stripped (``echo secret > file`` is common).
    """
    env = os.environ if env is None else env
    value = env.get(ENV_PREFIX + name.upper())
    if value:
        return value
    creds = env.get("CREDENTIALS_DIRECTORY")
    if creds:
        path = Path(creds) / name
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.error(
                "credential %s is not readable (%s): check LoadCredential=", path, exc.strerror
            )
    return None


def mqtt_password(env: Mapping[str, str] | None = None) -> str | None:
    return get_secret("mqtt_password", env)


def describe(name: str, env: Mapping[str, str] | None = None) -> str:
    """Where ``name`` would come from, for ``config check`` (never the value)."""
    env = os.environ if env is None else env
    if env.get(ENV_PREFIX + name.upper()):
        return f"from ${ENV_PREFIX}{name.upper()}"
    creds = env.get("CREDENTIALS_DIRECTORY")
    if creds and (Path(creds) / name).is_file():
        return f"from $CREDENTIALS_DIRECTORY/{name}"
    return "not set"
