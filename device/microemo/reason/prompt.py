"""The chat-completions request for one case: the instructions, the case text, the JSON ask.

The body holds exactly ``model``, ``messages`` (the system prompt, then the case as plain
text), ``temperature``, ``max_tokens`` and, unless ``llm.response_format = "none"``, a
``response_format``: a JSON schema of the answer (structured outputs) or a JSON object. It is
what ``--dry-run`` prints, and what a test reads off the wire.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from microemo.config_errors import ConfigError, read_toml
from microemo.emotion.rules import CORE_EMOTIONS
from microemo.reason.answer import json_schema
from microemo.reason.config import LlmConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ANSWER_NAME = "microemo_second_opinion"


@lru_cache(maxsize=4)
def system_prompt(path: Path | None = None) -> str:
    """The instructions (``prompt.toml``'s ``system``, or that of ``path``), with the label
    set filled in; ``ConfigError`` names a file without a ``system`` string."""
    if path is None:
        text = resources.files("microemo.reason").joinpath("prompt.toml").read_text()
        data = tomllib.loads(text)
    else:
        data = read_toml(path)
    system = data.get("system")
    if not isinstance(system, str) or not system.strip():
        raise ConfigError(f'{path}: no `system = """..."""` text: write the prompt there')
    return system.strip().replace("{labels}", json.dumps(list(CORE_EMOTIONS)))


def response_format(kind: str) -> dict[str, Any] | None:
    if kind == "json_schema":
        schema = {"name": ANSWER_NAME, "strict": True, "schema": json_schema()}
        return {"type": "json_schema", "json_schema": schema}
    if kind == "json_object":
        return {"type": "json_object"}
    return None


def request_body(llm: LlmConfig, case: str) -> dict[str, Any]:
    """The JSON body of ``POST {base_url}/chat/completions`` for ``case``."""
    body: dict[str, Any] = {
        "model": llm.model,
        "messages": [
            {"role": "system", "content": system_prompt(llm.system_prompt_file)},
            {"role": "user", "content": case},
        ],
        "temperature": llm.temperature,
        "max_tokens": llm.max_tokens,
    }
    fmt = response_format(llm.response_format)
    if fmt is not None:
        body["response_format"] = fmt
    return body
