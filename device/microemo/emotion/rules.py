"""Expert FACS rules: core-emotion prototypes and the 24 micro-emotions, read from
``tables/facs_rules.toml``. Every result says which AUs supported it and which rule fired.

Rules that share AUs (hopeful and grateful; brave and caring) are told apart by the core
emotion: a rule under a compatible core state wins; among equals the more specific rule
(more AUs) wins, then table order.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

from microemo.types import AU_INDEX

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CORE_EMOTIONS: tuple[str, ...] = (
    "happiness",
    "sadness",
    "anger",
    "fear",
    "surprise",
    "disgust",
    "contempt",
    "repression",
    "neutral",
)


@dataclass(frozen=True)
class MicroRule:
    state: str
    name: str
    all: tuple[int, ...]
    none: tuple[int, ...] = ()

    @property
    def label(self) -> str:
        text = "+".join(f"AU{a}" for a in self.all)
        return text + "".join(f"-AU{a}" for a in self.none)


@dataclass(frozen=True)
class RuleTables:
    core: dict[str, tuple[tuple[int, ...], tuple[int, ...]]]  # emotion -> (aus, optional)
    micro: tuple[MicroRule, ...]
    states: dict[str, tuple[str, ...]]
    saturation: float
    core_threshold: float
    present: float


@dataclass
class Classification:
    core: str
    core_source: str  # "cnn" or "rules"
    core_score: float
    scores: dict[str, float] = field(default_factory=dict)
    micro: str | None = None
    micro_state: str | None = None
    micro_rule: str | None = None
    aus: list[str] = field(default_factory=list)  # AUs that supported the result


@lru_cache(maxsize=1)
def load_tables() -> RuleTables:
    text = resources.files("microemo.emotion").joinpath("tables/facs_rules.toml").read_text()
    return parse_tables(text)


def parse_tables(text: str) -> RuleTables:
    d = tomllib.loads(text)
    for emotion in d["core"]:
        if emotion not in CORE_EMOTIONS:
            raise ValueError(f"facs_rules.toml: unknown core emotion {emotion!r}")
    core = {e: (tuple(v["aus"]), tuple(v.get("optional", ()))) for e, v in d["core"].items()}
    micro = tuple(
        MicroRule(m["state"], m["name"], tuple(m["all"]), tuple(m.get("none", ())))
        for m in d["micro"]
    )
    for rule in micro:
        for au in rule.all + rule.none:
            if au not in AU_INDEX:
                raise ValueError(f"facs_rules.toml: micro {rule.name!r} uses unknown AU{au}")
    s = d["scoring"]
    return RuleTables(
        core,
        micro,
        {k: tuple(v) for k, v in d["states"].items()},
        float(s["saturation"]),
        float(s["core_threshold"]),
        float(s["present"]),
    )


def _level(intensity: np.ndarray, aus: tuple[int, ...], sat: float) -> float:
    if not aus:
        return 0.0
    return float(np.mean([min(intensity[AU_INDEX[a]] / sat, 1.0) for a in aus]))


def core_scores(intensity: np.ndarray, tables: RuleTables | None = None) -> dict[str, float]:
    t = tables or load_tables()
    scores = {}
    for emotion, (aus, optional) in t.core.items():
        base = _level(intensity, aus, t.saturation)
        scores[emotion] = max(base, _level(intensity, aus + optional, t.saturation))
    scores["neutral"] = max(0.0, 1.0 - max(scores.values(), default=0.0) / t.core_threshold)
    return scores


def best_micro(
    intensity: np.ndarray, core: str, tables: RuleTables | None = None
) -> tuple[MicroRule, float] | None:
    t = tables or load_tables()
    best: tuple[tuple[int, int, float], MicroRule, float] | None = None
    for order, rule in enumerate(t.micro):
        if any(intensity[AU_INDEX[a]] < t.present for a in rule.all):
            continue
        if any(intensity[AU_INDEX[a]] >= t.present for a in rule.none):
            continue
        score = _level(intensity, rule.all, t.saturation)
        compatible = int(core in t.states.get(rule.state, ()))
        key = (compatible, len(rule.all), score - order * 1e-6)
        if best is None or key > best[0]:
            best = (key, rule, score)
    return None if best is None else (best[1], best[2])


def classify_aus(
    intensity: np.ndarray,
    core_probs: dict[str, float] | None = None,
    tables: RuleTables | None = None,
) -> Classification:
    """Classify one AU intensity vector. ``core_probs`` (from the CNN) decides the core
    emotion when given; otherwise the best prototype above the threshold does."""
    t = tables or load_tables()
    scores = core_scores(intensity, t)
    if core_probs:
        core = max(core_probs, key=lambda k: core_probs[k])
        source, core_score, shown = "cnn", float(core_probs[core]), dict(core_probs)
    else:
        emotion = max((e for e in scores if e != "neutral"), key=lambda e: scores[e])
        core = emotion if scores[emotion] >= t.core_threshold else "neutral"
        source, core_score, shown = "rules", scores[core], scores
    result = Classification(core=core, core_source=source, core_score=core_score, scores=shown)
    if core in t.core:
        aus, optional = t.core[core]
        result.aus = [f"AU{a:02d}" for a in aus + optional if intensity[AU_INDEX[a]] >= t.present]
    micro = best_micro(intensity, core, t)
    if micro is not None:
        rule, _ = micro
        result.micro, result.micro_state, result.micro_rule = rule.name, rule.state, rule.label
        for a in rule.all:
            name = f"AU{a:02d}"
            if name not in result.aus:
                result.aus.append(name)
    return result
