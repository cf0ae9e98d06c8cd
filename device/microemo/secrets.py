"""Secrets come from the environment or systemd credentials, never from the config file.

Looked up in order: the environment variable (``MICROEMO_MQTT_PASSWORD``), then the file of
that name in ``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=mqtt_password:/etc/...``,
readable only by the service). The config model has no password field, so a password typed
into the TOML is refused as an unknown key. Values are never logged, and the password of a
camera URL (``rtsp://admin:hunter2@cam/1``) is masked wherever a URL is printed
(``redact_url``).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger(__name__)

ENV_PREFIX = "MICROEMO_"

# scheme:// then everything up to the next blank: a URL inside any text (quotes included, as
# a password may hold one; the last "@" decides, so a closing quote does no harm)
_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)(\S*)")


def _mask_userinfo(match: re.Match[str]) -> str:
    scheme, rest = match.group(1), match.group(2)
    # the credentials end at the last "@" before any query: a password may hold "@" or "/"
    # unencoded (FFmpeg takes the last "@" too), so the first "/" is no limit here
    end = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, end)
    if at < 0:
        return match.group(0)
    user, colon, _ = rest[:at].partition(":")
    shown = f"{user}:***" if colon and "/" not in user else "***"
    return f"{scheme}{shown}{rest[at:]}"


def redact_url(text: str) -> str:
    """Every URL in ``text`` with its password masked: ``rtsp://admin:***@cam/1``. A user
    name alone (``https://TOKEN@host``) may be the secret, so it is masked whole."""
    return _URL.sub(_mask_userinfo, text)


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
