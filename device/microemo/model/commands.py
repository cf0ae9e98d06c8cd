"""Model update commands as they arrive: bounded, parsed, verified, typed, then remembered.

A command is untrusted until its signature verifies, so nothing of it is echoed before then
except ``excerpt``s: at most ``EXCERPT_CHARS`` printable characters of a field. A payload
that is not a small JSON object is refused with a one-line reason (``CommandError``), never
a traceback; an empty payload is the operator clearing a retained command, not a command.

Replays: ``HandledLog`` keeps the ``issued`` time of the last command handled and the digests
of the last few. A command not issued after that time is ignored (silently when it is one of
those already handled: a retained command delivered again at every reconnect), and a command
dated more than ``MAX_CLOCK_SKEW_S`` ahead of the device's clock is refused, so that one
command from a wrong clock cannot shut the channel until that date.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from microemo.model.bundle import BundleError, load_public_key

logger = logging.getLogger(__name__)

SIGNATURE_FIELD = "signature"
MAX_COMMAND_BYTES = 16_384  # a command is a few hundred bytes: the bundle travels apart
MAX_CLOCK_SKEW_S = 300.0
EXCERPT_CHARS = 64  # a manifest name is at most 64 characters
RECENT = 16  # digests of handled commands kept, to recognise a re-delivered one
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


class CommandError(BundleError):
    """A command refused before any bundle is touched; the message is safe to publish."""


class ClockError(CommandError):
    """Refused because of this device's clock, which is not synchronised: it may pass once
    NTP has set the clock (the message says so)."""


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """A short printable rendering of an untrusted value, for logs and statuses."""
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, (bool, int, float)):
        text = json.dumps(value)
    else:
        return f"<{type(value).__name__}>"
    clean = _UNPRINTABLE.sub("?", text[: limit + 1])
    if len(text) > limit:
        return f"{clean[:limit]}...({len(text)} chars)"
    return clean


def canonical_message(payload: dict[str, Any]) -> bytes:
    """The bytes a command's signature covers: every field except ``signature`` as JSON with
    sorted keys, no whitespace, UTF-8. The signer and the device both use this function."""
    rest = {k: v for k, v in payload.items() if k != SIGNATURE_FIELD}
    return json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def parse_payload(payload: bytes) -> dict[str, Any] | None:
    """The command object in ``payload``; None for an empty payload (a cleared retained
    command). Raises ``CommandError`` for anything that is not a small JSON object."""
    if not payload:
        return None
    if len(payload) > MAX_COMMAND_BYTES:
        raise CommandError(
            f"command is {len(payload)} bytes, over {MAX_COMMAND_BYTES}: a command carries a "
            "url or chunk topic, not the bundle; make it with `microemo-train update-msg`"
        )
    try:
        msg = json.loads(payload)
    except RecursionError:
        raise CommandError("command is not JSON (nested too deeply)") from None
    except json.JSONDecodeError as exc:
        raise CommandError(f"command is not JSON ({exc.msg} at byte {exc.pos})") from None
    except ValueError:  # bytes that are not UTF-8/16/32
        raise CommandError("command is not JSON (not UTF-8 text)") from None
    if not isinstance(msg, dict):
        raise CommandError(f"command is a JSON {type(msg).__name__}, not an object")
    return msg


def digest(msg: dict[str, Any]) -> str:
    """Identifies one signed command (its signature is unique to its content and key)."""
    return hashlib.sha256(str(msg.get(SIGNATURE_FIELD)).encode()).hexdigest()[:32]


def verify_message(msg: dict[str, Any], public_keys: list[str]) -> None:
    from cryptography.exceptions import InvalidSignature

    sig_text = msg.get(SIGNATURE_FIELD)
    if not isinstance(sig_text, str):
        raise CommandError("command carries no signature; sign it with `microemo-train update-msg`")
    try:
        sig = base64.b64decode(sig_text, validate=True)
    except ValueError as exc:
        raise CommandError("command signature is not base64") from exc
    data = canonical_message(msg)
    for key_text in public_keys:
        try:
            load_public_key(key_text).verify(sig, data)
            return
        except (InvalidSignature, ValueError):
            continue
    raise CommandError("command signature does not verify with any key in model.public_keys")


class Chunks(BaseModel):
    model_config = ConfigDict(extra="ignore")
    topic: str = Field(min_length=1, max_length=512, pattern=r"^[^+#\x00]+$")
    count: int = Field(ge=1, le=100_000)


class Command(BaseModel):
    """A verified command's fields, typed. Unknown fields are signed too and ignored."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["update", "rollback"]
    issued: str = Field(max_length=64)
    name: str | None = Field(None, max_length=64)
    version: str | None = Field(None, max_length=64)
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")
    url: str | None = Field(None, max_length=2048)
    chunks: Chunks | None = None
    allow_downgrade: StrictBool = False

    def summary(self) -> dict[str, Any]:
        """What statuses repeat of the command (signed, still kept short)."""
        return unverified_summary(self.model_dump(exclude_none=True))


def unverified_summary(msg: dict[str, Any]) -> dict[str, str]:
    """Short excerpts of what a command claims, for the status that refuses it (and, of its
    typed fields, for every status of a verified one)."""
    return {k: excerpt(msg[k]) for k in ("type", "name", "version", "issued") if k in msg}


def typed(msg: dict[str, Any]) -> Command:
    """The verified ``msg`` as a ``Command``; ``CommandError`` names the bad field."""
    try:
        cmd = Command.model_validate(msg)
    except ValidationError as exc:
        errors = [
            f"{'.'.join(str(p) for p in e['loc']) or 'command'}: {e['msg']}"
            for e in exc.errors()[:3]
        ]
        raise CommandError("command field " + "; ".join(errors)) from None
    if cmd.type == "update":
        missing = [k for k in ("name", "version", "sha256") if getattr(cmd, k) is None]
        if missing:
            raise CommandError(f"update command needs {', '.join(missing)}")
        if not cmd.url and cmd.chunks is None:
            raise CommandError("update command needs url or chunks")
    return cmd


def parse_issued(text: str) -> float:
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.timestamp()
    except (ValueError, OverflowError, OSError):
        bad = f"command field issued={excerpt(text)} is not an ISO 8601 time"
        raise CommandError(bad) from None


def check_issued(cmd: Command, now: float, max_age_s: float, synced: bool = True) -> float:
    """The command's ``issued`` time, refused when ahead of the clock or too old. With the
    device's clock not ``synced`` the refusal is a ``ClockError`` that says so: the advice
    to sign a new command would be wrong."""
    issued = parse_issued(cmd.issued)
    when = f"command issued {excerpt(cmd.issued)}"
    clock = f"this device's clock ({_iso(now)})"
    if not synced and (issued - now > MAX_CLOCK_SKEW_S or now - issued > max_age_s):
        side = "ahead of" if issued > now else "behind"
        raise ClockError(
            f"{when} is {abs(issued - now):.0f} s {side} {clock}, outside what is allowed, "
            "and this device's clock is not synchronised (no NTP yet): the refusal comes "
            "from the device's clock; send the command again once NTP has set it"
        )
    if issued - now > MAX_CLOCK_SKEW_S:
        raise CommandError(
            f"{when} is {issued - now:.0f} s ahead of {clock}, more than the "
            f"{MAX_CLOCK_SKEW_S:.0f} s of clock skew allowed: check the clocks (NTP) of the "
            "device and of the signing machine"
        )
    if now - issued > max_age_s:
        raise CommandError(
            f"{when} is older than model.max_message_age_s={max_age_s:g} by {clock}; sign a "
            "new one (if it was signed just now, this device's clock is wrong: check its NTP)"
        )
    return issued


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class HandledLog:
    """``<models>/last_command.json``: the last ``issued`` handled and recent digests."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def last_issued(self, now: float) -> float:
        """The high-water mark; one beyond the clock-skew allowance (written before that was
        refused) is ignored, so it cannot block every later command."""
        try:
            issued = float(self._read()["issued"])
        except (KeyError, TypeError, ValueError):
            return float("-inf")
        if issued - now > MAX_CLOCK_SKEW_S:
            logger.warning(
                "model updates: %s holds a command time %s ahead of the clock; ignoring it",
                self.path, _iso(issued),
            )  # fmt: skip
            return float("-inf")
        return issued

    def _recent(self) -> list[str]:
        recent = self._read().get("recent")
        return [k for k in recent if isinstance(k, str)] if isinstance(recent, list) else []

    def seen(self, key: str) -> bool:
        return key in self._recent()

    def remember(self, issued: float, key: str, now: float) -> None:
        recent = [k for k in self._recent() if k != key][-(RECENT - 1) :]
        data = {"issued": max(issued, self.last_issued(now)), "recent": [*recent, key]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.path)
