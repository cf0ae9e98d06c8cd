"""What goes wrong reading a config file, said in one line per fault.

A file that cannot be read (missing, a folder, no permission, not UTF-8, not TOML) is one line
naming it and what to do; a file that does not validate is one line for the file and one per
bad key with its value and, for a misspelt key, the close match. A key that would hold a
secret points to where secrets live instead. URL passwords in values are masked.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from microemo.secrets import redact_url

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(Exception):
    """A config file that cannot be used; the message names file, key path and value."""


def _model_at(root: type[BaseModel], path: tuple[Any, ...]) -> type[BaseModel] | None:
    model: Any = root
    for key in path:
        field = model.model_fields.get(key) if isinstance(key, str) else None
        if field is None or not (
            isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
        ):
            return model if field is None else None
        model = field.annotation
    return model if isinstance(model, type) else None


# keys that would hold a secret: the file is no place for one (``secrets.py``)
_SECRET_KEY = ("pass", "secret", "token", "api_key", "apikey")
_SECRET_HINT = (
    "secrets never go in the config file: put the {what} password in "
    "/etc/microemo/{name} (the unit passes it with LoadCredential=) or in the "
    "environment variable MICROEMO_{NAME}, and remove this key"
)
# strict types: a quoted number or boolean is refused; say how to write it
_UNQUOTE = {"int_type": "a whole number", "float_type": "a number", "bool_type": "true or false"}


def _unknown_key(root: type[BaseModel], loc: tuple[Any, ...], secret_hint: str) -> str:
    key = ".".join(str(p) for p in loc)
    if any(word in str(loc[-1]).lower() for word in _SECRET_KEY):
        if secret_hint is not _SECRET_HINT:  # another program's own advice
            return f"  {key}: {secret_hint}"
        what, name = (
            ("status page", "status_password")
            if loc[0] == "status"
            else ("broker", "mqtt_password")
        )
        return f"  {key}: " + _SECRET_HINT.format(what=what, name=name, NAME=name.upper())
    parent = _model_at(root, loc[:-1])
    known = list(parent.model_fields) if parent else []
    hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
    did = f"; did you mean `{'.'.join([*map(str, loc[:-1]), hint[0]])}`?" if hint else ""
    return f"  {key}: unknown key{did} (known: {', '.join(known)})"


def explain(
    exc: ValidationError, source: str, root: type[BaseModel], secret_hint: str = _SECRET_HINT
) -> str:
    """One line for the file, then one per bad key: path, value (URL passwords masked) and
    what was expected, with a did-you-mean for an unknown key (``secret_hint`` for a key that
    would hold a secret: where that program's secrets live)."""
    lines = [f"{source}: invalid configuration"]
    for err in exc.errors():
        loc = tuple(err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(_unknown_key(root, loc, secret_hint))
            continue
        key = ".".join(str(p) for p in loc if not str(p).startswith(("function-", "lax-")))
        value = err.get("input")
        msg = err["msg"]
        if isinstance(value, str) and err["type"] in _UNQUOTE:
            msg += f" ({_UNQUOTE[err['type']]}, written without quotes)"
        lines.append(redact_url(f"  {key} = {value!r}: {msg}"))
    return "\n".join(lines)


def read_toml(path: Path | str) -> dict[str, Any]:
    """The TOML file's tables, or ``ConfigError``: one line naming the file, the fault and
    what to do (a folder, an unreadable or non-UTF-8 file, bad TOML)."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(
            f"{path}: is a folder, not a config file: give the TOML file itself "
            "(e.g. /etc/microemo/microemo.toml)"
        ) from None
    except PermissionError:
        raise ConfigError(
            f"{path}: permission denied: make it readable by this user (the service reads "
            "it as user microemo: `sudo chmod 644 FILE`) or run as a user who can read it"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}): save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}): check the file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
