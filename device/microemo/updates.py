"""Signed model-update commands (work in progress: the message format)."""

from __future__ import annotations

import json
import logging
from typing import Any

logger = logging.getLogger(__name__)

SIGNATURE_FIELD = "signature"


def canonical_message(payload: dict[str, Any]) -> bytes:
    """The bytes a command's signature covers: every field except ``signature`` as JSON with
    sorted keys, no whitespace, UTF-8. The signer and the device both use this function."""
    rest = {k: v for k, v in payload.items() if k != SIGNATURE_FIELD}
    return json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
