"""``microemo-reason``'s typed configuration: one section per concern, unknown keys refused.

The same machinery as the device's (``microemo.config``): strict TOML types, a default, bounds
and a description on every key, one line per bad key with a did-you-mean, ``--set KEY=VALUE``
overrides. The broker keys are the device's own ``[mqtt]`` keys (same names, bounds and
descriptions), so a hub reaches the broker exactly as its devices do. Secrets never sit here:
the API key comes from ``llm.api_key_file``, the systemd credential ``llm_api_key`` or
``$MICROEMO_LLM_API_KEY``; the broker password as for the device (``secrets.py``).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from microemo.config import MqttConfig, PathStr, Section, set_dotted
from microemo.config_errors import ConfigError, explain, read_toml
from microemo.emotion.rules import CORE_EMOTIONS, load_tables

SECRET_HINT = (
    "secrets never go in the config file: put the API key in a file named by "
    "llm.api_key_file or in the systemd credential llm_api_key (LoadCredential="
    "llm_api_key:/etc/microemo/llm_api_key), the broker password in the credential "
    "mqtt_password, and remove this key"
)


def _device_mqtt(name: str) -> Any:
    """The device's ``[mqtt]`` field ``name``: one definition of a broker key, not two."""
    return copy.copy(MqttConfig.model_fields[name])


class BrokerConfig(Section):
    host: str = _device_mqtt("host")
    port: int = _device_mqtt("port")
    prefix: str = _device_mqtt("prefix")
    username: str = _device_mqtt("username")
    tls: bool = _device_mqtt("tls")
    ca_file: PathStr | None = _device_mqtt("ca_file")
    cert_file: PathStr | None = _device_mqtt("cert_file")
    key_file: PathStr | None = _device_mqtt("key_file")
    keepalive_s: int = _device_mqtt("keepalive_s")
    reconnect_min_s: float = _device_mqtt("reconnect_min_s")
    reconnect_max_s: float = _device_mqtt("reconnect_max_s")
    client_id: str = Field(
        "microemo-reason",
        min_length=1,
        max_length=128,
        description="MQTT client id; the broker keeps this id's session (QoS 1 events "
        "queued while the service is away), so two instances need two ids",
    )
    devices: list[str] = Field(
        default_factory=list, description="only these device ids' events; empty: every device"
    )

    @field_validator("devices")
    @classmethod
    def _device_ids(cls, devices: list[str]) -> list[str]:
        bad = [d for d in devices if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", d)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a device id (letters, digits, '_', '-')")
        return devices


class LlmConfig(Section):
    base_url: str = Field(
        "http://127.0.0.1:8080/v1",
        pattern=r"^https?://",
        description="OpenAI-compatible API root: https://api.openai.com/v1, a llama.cpp "
        "server's http://HOST:8080/v1, Ollama's http://HOST:11434/v1, vLLM's .../v1",
    )
    model: str = Field("default", min_length=1, description="model name the endpoint serves")
    api_key_file: PathStr | None = Field(
        None,
        description="file holding the API key (one line); default: the credential "
        "llm_api_key, else $MICROEMO_LLM_API_KEY, else none (a local server)",
    )
    timeout_s: float = Field(30.0, gt=0, le=600, description="one request's time limit")
    max_retries: int = Field(
        2, ge=0, le=10, description="retries of a timeout, 429 or 5xx, with back-off"
    )
    temperature: float = Field(0.0, ge=0, le=2, description="sampling temperature")
    max_tokens: int = Field(200, ge=16, le=4096, description="longest answer, in tokens")
    response_format: Literal["json_schema", "json_object", "none"] = Field(
        "json_schema",
        description="how JSON is asked for: a JSON schema (OpenAI, llama.cpp, vLLM, "
        "Ollama), any JSON object, or the prompt alone; the answer is validated in any case",
    )
    system_prompt_file: PathStr | None = Field(
        None, description="the instructions sent first; default: the built-in prompt.toml"
    )


class SelectConfig(Section):
    margin: float = Field(
        0.15, ge=0, le=1, description="hard when the two best scores are this close (0: off)"
    )
    disagreement: bool = Field(True, description="hard when the CNN and the FACS rules disagree")
    micro: bool = Field(True, description="every micro-expression episode is hard")
    labels: list[str] = Field(
        default_factory=lambda: ["contempt", "repression"],
        description="core or micro emotions that are always hard",
    )

    @field_validator("labels")
    @classmethod
    def _known_labels(cls, labels: list[str]) -> list[str]:
        known = set(CORE_EMOTIONS) | {rule.name for rule in load_tables().micro}
        unknown = [label for label in labels if label not in known]
        if unknown:
            raise ValueError(f"not an emotion microemo reports: {', '.join(unknown)}")
        return labels


class ContextConfig(Section):
    previous: bool = Field(
        False, description="also say what the same face showed just before the episode"
    )
    previous_s: float = Field(
        10.0, gt=0, le=600, description="episodes that ended this long before the onset count"
    )
    previous_max: int = Field(3, ge=1, le=20, description="at most this many earlier episodes")


class LimitsConfig(Section):
    requests_per_minute: float = Field(
        20.0, gt=0, le=10_000, description="requests sent a minute at most (cases wait)"
    )
    daily_tokens: int = Field(
        200_000,
        ge=0,
        le=1_000_000_000,
        description="tokens a UTC day; then no more requests until midnight (0: no limit)",
    )
    breaker_failures: int = Field(
        5, ge=1, le=1000, description="failed requests in a row that open the circuit"
    )
    breaker_cooldown_s: float = Field(
        60.0, gt=0, le=86_400, description="how long an open circuit waits before one trial"
    )
    cache_size: int = Field(
        1000, ge=0, le=1_000_000, description="answers kept for identical cases (0: no cache)"
    )
    queue: int = Field(
        100, ge=1, le=100_000, description="cases waiting for the model; past it the oldest go"
    )


class ServiceConfig(Section):
    state_dir: PathStr = Field(
        Path("/var/lib/microemo-reason"), description="where the day's token count is kept"
    )
    status_interval_s: float = Field(
        60.0, ge=1, le=3600, description="seconds between retained status updates"
    )

    @field_validator("state_dir")
    @classmethod
    def _expand_home(cls, v: Path) -> Path:
        return v.expanduser()


class ReasonConfig(Section):
    mqtt: BrokerConfig = Field(default_factory=BrokerConfig)
    llm: LlmConfig = Field(default_factory=LlmConfig)
    select: SelectConfig = Field(default_factory=SelectConfig)
    context: ContextConfig = Field(default_factory=ContextConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)


def load_reason_config(
    path: Path | str | None, overrides: dict[str, Any] | None = None
) -> ReasonConfig:
    """The TOML file (or the defaults), then dotted ``--set`` overrides; ``ConfigError``
    names the file, each bad key and its value."""
    data: dict[str, Any] = {} if path is None else read_toml(path)
    source = "<defaults>" if path is None else str(path)
    for dotted, value in (overrides or {}).items():
        set_dotted(data, dotted, value, source)
    try:
        return ReasonConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(explain(exc, source, ReasonConfig, SECRET_HINT)) from None
