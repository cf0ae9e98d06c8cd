"""The model's answer: asked for as JSON with a schema, and validated here before any use.

An answer is one JSON object ``{"label", "confidence", "rationale"}``: a label from the core
emotions, a confidence from 0 to 1 and a one-line rationale. Whatever the endpoint promises
(structured outputs, a JSON mode or the prompt alone), the text that came back is parsed and
checked here; prose, a label outside the set, a confidence outside 0-1 or a rationale of
several lines is ``AnswerRejected`` with the reason, logged and never published.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from microemo.emotion.rules import CORE_EMOTIONS

RATIONALE_MAX = 300  # characters: one line


class AnswerRejected(ValueError):
    """An answer that is not used; the message says why in one line."""


class Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    label: str
    confidence: float = Field(ge=0, le=1)
    rationale: str = Field(min_length=1, max_length=RATIONALE_MAX)

    @field_validator("label")
    @classmethod
    def _label(cls, v: str) -> str:
        if v not in CORE_EMOTIONS:
            raise ValueError(f"{v!r} is not one of {', '.join(CORE_EMOTIONS)}")
        return v

    @field_validator("rationale")
    @classmethod
    def _one_line(cls, v: str) -> str:
        v = v.strip()
        if not v or "\n" in v:
            raise ValueError("must be one line")
        return v


def json_schema() -> dict[str, Any]:
    """The answer's JSON Schema, as structured outputs take it (every key required, no
    others: OpenAI's strict mode asks for exactly that)."""
    return {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": list(CORE_EMOTIONS)},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "rationale": {"type": "string", "maxLength": RATIONALE_MAX},
        },
        "required": ["label", "confidence", "rationale"],
        "additionalProperties": False,
    }


def _excerpt(text: str, n: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= n else flat[: n - 3] + "..."


def parse_answer(text: str | None) -> Answer:
    """The validated answer in ``text``; ``AnswerRejected`` naming what was wrong. A JSON
    object inside a Markdown code fence is read too (small local models add one)."""
    if not text or not text.strip():
        raise AnswerRejected("empty answer")
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(body)
    except ValueError:
        raise AnswerRejected(f"not JSON: {_excerpt(text)!r}") from None
    if not isinstance(data, dict):
        raise AnswerRejected(f"not a JSON object: {_excerpt(text)!r}")
    try:
        return Answer.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "answer"
        value = err.get("input")
        raise AnswerRejected(f"{key} = {_excerpt(repr(value))}: {err['msg']}") from None
