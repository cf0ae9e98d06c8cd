"""The OpenAI-compatible chat-completions client: the ``openai`` SDK pointed at ``base_url``.

The SDK brings what an endpoint needs: a time limit per request (``llm.timeout_s``), retries
of timeouts, lost connections, 429 and 5xx with exponential back-off and jitter (0.5 s
doubling to 8 s; a ``Retry-After`` of up to two minutes is obeyed), ``llm.max_retries`` of
them. Whatever still fails is one ``EndpointError`` saying what happened, which the breaker
counts. The API key comes from ``llm.api_key_file``, the credential ``llm_api_key`` or
``$MICROEMO_LLM_API_KEY``, never from the command line, and is never logged.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from microemo.config_errors import ConfigError
from microemo.reason.config import LlmConfig
from microemo.secrets import get_secret, redact_url

logger = logging.getLogger(__name__)

# the SDK wants a key; a local server (llama.cpp, Ollama, vLLM) that checks none ignores it
NO_KEY = "no-key"
INSTALL_HINT = "the openai package is missing: pip install 'microemo[reason]'"


class EndpointError(Exception):
    """The endpoint gave no usable response (after the SDK's retries)."""


@dataclass(frozen=True)
class Reply:
    text: str | None  # the message content (None: no content, e.g. a refusal)
    refusal: str | None
    model: str  # the model that answered, as the endpoint names it
    prompt_tokens: int
    completion_tokens: int
    estimated: bool  # the endpoint reported no usage: counted as characters / 4
    latency_ms: float


def api_key(llm: LlmConfig) -> str | None:
    """The key from ``llm.api_key_file``, else the credential ``llm_api_key``, else None;
    ``ConfigError`` names a key file that cannot be read."""
    if llm.api_key_file is not None:
        try:
            key = llm.api_key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"llm.api_key_file {llm.api_key_file}: cannot be read ({exc.strerror}): "
                "make it readable by the service's user (mode 600, owned by it)"
            ) from None
        if not key:
            raise ConfigError(f"llm.api_key_file {llm.api_key_file}: empty: put the key in it")
        return key
    return get_secret("llm_api_key")


def key_source(llm: LlmConfig) -> str:
    """Where the key would come from, for ``check`` (never the key)."""
    if llm.api_key_file is not None:
        return f"from llm.api_key_file {llm.api_key_file}"
    from microemo.secrets import describe

    where = describe("llm_api_key")
    return where if where != "not set" else "none (fine for a local server)"


def estimate_tokens(text: str) -> int:
    """About four characters a token (English and JSON with GPT-style tokenizers)."""
    return math.ceil(len(text) / 4)


class LlmClient:
    def __init__(self, llm: LlmConfig, key: str | None) -> None:
        try:
            import openai
        except ModuleNotFoundError:
            raise ConfigError(INSTALL_HINT) from None
        self.llm = llm
        self._openai = openai
        self._client = openai.OpenAI(
            base_url=llm.base_url,
            api_key=key or NO_KEY,
            organization=None,
            project=None,
            timeout=llm.timeout_s,
            max_retries=llm.max_retries,
        )

    def ask(self, body: dict[str, Any]) -> Reply:
        """One chat completion for ``body`` (from ``prompt.request_body``)."""
        o, tries = self._openai, self.llm.max_retries + 1
        t0 = time.monotonic()
        try:
            resp = self._client.chat.completions.create(**body)
        except o.APITimeoutError:
            raise EndpointError(
                f"no answer within {self.llm.timeout_s:g} s ({tries} tries)"
            ) from None
        except o.APIConnectionError as exc:
            raise EndpointError(f"cannot reach {redact_url(self.llm.base_url)} ({exc})") from None
        except o.APIStatusError as exc:
            raise EndpointError(_status_text(exc, tries)) from None
        except o.APIError as exc:
            raise EndpointError(f"bad response ({exc})") from None
        latency = (time.monotonic() - t0) * 1000.0
        return _reply(resp, body, latency)


def _status_text(exc: Any, tries: int) -> str:
    code = int(exc.status_code)
    detail = " ".join(str(exc.message).split())[:160]
    if code == 429 or code >= 500:
        return f"HTTP {code} after {tries} tries: {detail}"
    hint = {401: ": check the API key", 403: ": check the API key", 404: ": check llm.model"}
    return f"HTTP {code}: {detail}{hint.get(code, '')}"


def _reply(resp: Any, body: dict[str, Any], latency_ms: float) -> Reply:
    choices = getattr(resp, "choices", None) or []
    message = choices[0].message if choices else None
    text = getattr(message, "content", None)
    refusal = getattr(message, "refusal", None)
    usage = getattr(resp, "usage", None)
    prompt = getattr(usage, "prompt_tokens", None)
    completion = getattr(usage, "completion_tokens", None)
    estimated = prompt is None or completion is None
    if estimated:
        prompt = estimate_tokens(json.dumps(body))
        completion = estimate_tokens(text or "")
    return Reply(
        text=text,
        refusal=refusal,
        model=str(getattr(resp, "model", None) or body["model"]),
        prompt_tokens=int(prompt or 0),
        completion_tokens=int(completion or 0),
        estimated=estimated,
        latency_ms=round(latency_ms, 1),
    )
