"""Expert FACS rules: core-emotion prototypes and the 24 micro-emotions, read from
``tables/facs_rules.toml``. Every result says which AUs supported it and which rule fired.

The core emotion from AUs alone comes from ``tables/core_weights.toml`` when it is there:
the prototypes' weights fitted to FACS-coded faces (``microemo-train facs-calibrate``), a
softmax over the AU intensities with a ``neutral`` class, so a faint face reads neutral.
Repression has no coded examples there; it is given only where its whole rule holds with weak
movements (a suppressed expression), and then takes the anger share. Without that file the
hand prototypes score each emotion as the mean of its AUs.

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

from microemo.types import AU_INDEX, CORE_EMOTIONS, Classification

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


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


@dataclass(frozen=True, eq=False)
class CoreWeights:
    """Fitted prototype weights: ``softmax(w @ intensity + b)`` over ``classes``."""

    classes: tuple[str, ...]
    w: np.ndarray  # (n_classes, n_au)
    b: np.ndarray  # (n_classes,)
    provenance: dict
    figures: dict

    def probabilities(self, intensity: np.ndarray) -> np.ndarray:
        z = self.w @ np.clip(intensity, 0.0, 5.0) + self.b
        e = np.exp(z - z.max())
        return e / e.sum()


@dataclass(frozen=True, eq=False)  # hashed by identity for the compiled cache
class RuleTables:
    core: dict[str, tuple[tuple[int, ...], tuple[int, ...]]]  # emotion -> (aus, optional)
    micro: tuple[MicroRule, ...]
    states: dict[str, tuple[str, ...]]
    saturation: float
    core_threshold: float
    present: float
    cnn_weight: float = 0.5
    fitted: CoreWeights | None = None
    repression_weak: float = 2.0  # repression: its rule holds with every AU below this
    suffices: dict[str, tuple[tuple[int, ...], ...]] = field(default_factory=dict)


@lru_cache(maxsize=1)
def load_tables() -> RuleTables:
    tables = resources.files("microemo.emotion").joinpath("tables")
    fitted = tables.joinpath("core_weights.toml")
    weights = parse_core_weights(fitted.read_text()) if fitted.is_file() else None
    return parse_tables(tables.joinpath("facs_rules.toml").read_text(), weights)


@lru_cache(maxsize=1)
def hand_tables() -> RuleTables:
    """The hand prototypes alone, without fitted weights (for comparisons)."""
    text = resources.files("microemo.emotion").joinpath("tables/facs_rules.toml").read_text()
    return parse_tables(text)


def parse_core_weights(text: str, source: str = "core_weights.toml") -> CoreWeights:
    d = tomllib.loads(text)
    inputs = tuple(d.get("inputs", ()))
    if inputs != tuple(f"AU{a:02d}" for a in AU_INDEX):
        raise ValueError(f"{source}: inputs {inputs} are not this runtime's AUs")
    classes = tuple(d["classes"])
    unknown = [c for c in classes if c not in CORE_EMOTIONS]
    if unknown:
        raise ValueError(f"{source}: unknown core emotion {unknown[0]!r}")
    rows = [d["class"][c] for c in classes]
    return CoreWeights(
        classes,
        np.array([r["weights"] for r in rows], np.float64),
        np.array([float(r["bias"]) for r in rows], np.float64),
        dict(d.get("provenance", {})),
        dict(d.get("figures", {})),
    )


def parse_tables(text: str, fitted: CoreWeights | None = None) -> RuleTables:
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
        float(s.get("cnn_weight", 0.5)),
        fitted,
        float(s.get("repression_weak", 2.0)),
        {e: tuple(tuple(g) for g in v.get("suffices", ())) for e, v in d["core"].items()},
    )


def _mean_matrix(groups: list[tuple[int, ...]]) -> np.ndarray:
    m = np.zeros((len(groups), len(AU_INDEX)), np.float32)
    for row, aus in enumerate(groups):
        for a in aus:
            m[row, AU_INDEX[a]] = 1.0 / len(aus)
    return m


@lru_cache(maxsize=4)
def _compiled(t: RuleTables) -> tuple[np.ndarray, ...]:
    """The tables as matrices: one product per frame instead of Python loops."""
    core_names = list(t.core)
    base = _mean_matrix([t.core[e][0] for e in core_names])
    full = _mean_matrix([t.core[e][0] + t.core[e][1] for e in core_names])
    req = np.zeros((len(t.micro), len(AU_INDEX)), bool)
    without = np.zeros_like(req)
    for row, rule in enumerate(t.micro):
        req[row, [AU_INDEX[a] for a in rule.all]] = True
        without[row, [AU_INDEX[a] for a in rule.none]] = True
    mean_req = _mean_matrix([r.all for r in t.micro])
    n_aus = req.sum(axis=1)
    return base, full, req, without, mean_req, n_aus


@lru_cache(maxsize=64)
def _compatible(t: RuleTables, core: str) -> np.ndarray:
    return np.array([core in t.states.get(r.state, ()) for r in t.micro])


def _fitted_scores(intensity: np.ndarray, t: RuleTables, fit: CoreWeights) -> dict[str, float]:
    scores = {c: float(p) for c, p in zip(fit.classes, fit.probabilities(intensity))}
    rule = t.core.get("repression")
    if rule is not None and "anger" in scores:
        v = intensity[[AU_INDEX[a] for a in rule[0]]]
        held = bool(np.all(v >= t.present) and np.all(v < t.repression_weak))
        scores["repression"] = scores.pop("anger") if held else 0.0
        scores.setdefault("anger", 0.0)
    return scores


def core_scores(intensity: np.ndarray, tables: RuleTables | None = None) -> dict[str, float]:
    """Evidence per core emotion: fitted probabilities (summing to 1, ``neutral``
    included) when ``core_weights.toml`` is installed, else the hand prototypes' scores."""
    t = tables or load_tables()
    if t.fitted is not None:
        return _fitted_scores(intensity, t, t.fitted)
    base, full, *_ = _compiled(t)
    x = np.minimum(intensity / t.saturation, 1.0)
    values = np.maximum(base @ x, full @ x)
    scores = {e: float(v) for e, v in zip(t.core, values)}
    scores["neutral"] = max(0.0, 1.0 - float(values.max(initial=0.0)) / t.core_threshold)
    return scores


def best_micro(
    intensity: np.ndarray, core: str, tables: RuleTables | None = None
) -> tuple[MicroRule, float] | None:
    t = tables or load_tables()
    _, _, req, without, mean_req, n_aus = _compiled(t)
    present = intensity >= t.present
    fires = ~(req & ~present).any(axis=1) & ~(without & present).any(axis=1)
    if not fires.any():
        return None
    score = mean_req @ np.minimum(intensity / t.saturation, 1.0)
    compatible = _compatible(t, core)
    # compatible state first, then the more specific rule, then the stronger, then table order
    key = np.where(
        fires, compatible * 1e6 + n_aus * 1e3 + score * 10 - np.arange(len(score)) * 1e-4, -np.inf
    )
    best = int(np.argmax(key))
    return t.micro[best], float(score[best])


RULE_TEMPERATURE = 0.1  # prototype scores (0-1) to a distribution: a 0.3 lead is ~20:1


def fuse(cnn: dict[str, float], rules: dict[str, float], cnn_weight: float) -> dict[str, float]:
    """Mix the CNN's probabilities with the prototypes' evidence, normalised over the model's
    labels. The CNN sees the window's dynamics; the prototypes see this face's AUs against
    its own baseline: on faces unlike its training data the rules keep the CNN honest."""
    z = np.array([rules.get(k, 0.0) for k in cnn]) / RULE_TEMPERATURE
    r = np.exp(z - z.max())
    r /= r.sum()
    return {k: cnn_weight * p + (1.0 - cnn_weight) * float(q) for (k, p), q in zip(cnn.items(), r)}


def mix(cnn: dict[str, float], rules: dict[str, float], cnn_weight: float) -> dict[str, float]:
    """The CNN's probabilities mixed with the fitted prototypes' over the model's labels
    (the bundle decides what can be said; the rules' share is renormalised over them)."""
    total = sum(rules.get(k, 0.0) for k in cnn)
    return {
        k: cnn_weight * p + (1.0 - cnn_weight) * (rules.get(k, 0.0) / total if total else 0.0)
        for k, p in cnn.items()
    }


def combine(
    cnn: dict[str, float], rules: dict[str, float], cnn_weight: float, tables: RuleTables
) -> dict[str, float]:
    """What the device shows for a face with a model: the CNN's probabilities mixed with the
    rules' evidence at ``cnn_weight`` (``mix`` over fitted prototypes, else ``fuse``)."""
    return (mix if tables.fitted is not None else fuse)(cnn, rules, cnn_weight)


def _rules_pick(scores: dict[str, float], t: RuleTables) -> str:
    """The FACS prototypes' own core emotion: the fitted softmax's best class (it has a
    neutral class), else the best hand prototype if it clears the threshold."""
    if t.fitted is not None:
        return max(scores, key=lambda k: scores[k])
    emotion = max((e for e in scores if e != "neutral"), key=lambda e: scores[e])
    return emotion if scores[emotion] >= t.core_threshold else "neutral"


def classify_aus(
    intensity: np.ndarray,
    core_probs: dict[str, float] | None = None,
    tables: RuleTables | None = None,
    cnn_weight: float | None = None,
    face: dict[str, float] | None = None,
) -> Classification:
    """Classify one AU intensity vector. ``face``: the face's evidence when its appearance was
    read too (``fusion.Fusion`` of the appearance model and these AUs' prototypes), else the
    prototypes alone. ``core_probs`` (from the window CNN) is mixed with that evidence by
    ``cnn_weight`` (the bundle's, else the table's); without it the evidence decides (the
    fitted prototypes' best class, or the best hand prototype above the threshold)."""
    t = tables or load_tables()
    scores = core_scores(intensity, t) if face is None else face
    weight = t.cnn_weight if cnn_weight is None else cnn_weight
    rules_core = _rules_pick(scores, t) if face is None else max(face, key=face.__getitem__)
    evidence = "rules" if face is None else "appearance+rules"
    if core_probs:
        shown = combine(core_probs, scores, weight, t)
        core = max(shown, key=lambda k: shown[k])
        source = "cnn" if weight >= 1.0 else f"cnn+{evidence}"
    else:
        core, source, shown = rules_core, evidence, scores
    core_score = shown[core]
    result = Classification(core=core, core_source=source, core_score=core_score, scores=shown)
    cnn_core = max(core_probs, key=core_probs.__getitem__) if core_probs else None
    if cnn_core in CORE_EMOTIONS:  # a model with labels of its own says nothing comparable
        result.cnn_core, result.rules_core = cnn_core, rules_core
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
