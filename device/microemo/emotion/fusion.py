"""One core emotion from the face's appearance and its AUs: the appearance model's reading and
the FACS prototypes' evidence, fused by the linear softmax its manifest carries
(``model.appearance.FusionSpec``), calibrated there so that a shown score of 0.8 is right
about 80 % of the time on faces the fit never saw.

How far the prototypes count against the appearance grows with the face's neutral baseline
(``trust``): on a first glance or a photo the AUs are read without a reference and the
appearance leads; once the face has been seen at rest its AUs are read against its own
neutral, which is what the prototypes were fitted on, and they count more.

Repression has no examples to fit: the prototypes give it only where its whole rule holds
with weak movements, and then it takes the fused anger share, as it does without appearance.
"""

from __future__ import annotations

import numpy as np

from microemo.model.appearance import FusionSpec

_FLOOR = 1e-4  # a prototype probability of 0 is read as this (its log is an input)


def fusion_inputs(
    names: list[str],
    app_labels: list[str],
    app_logp: np.ndarray,
    au_scores: dict[str, float],
    trust: float,
) -> np.ndarray:
    """The named log-probabilities a fusion reads (``FusionSpec.inputs``), in that order: what
    the device computes per face and the training tool per still."""
    au = dict(au_scores)
    au["anger"] = au.get("anger", 0.0) + au.get("repression", 0.0)  # one class to fit
    x = np.empty(len(names))
    for i, name in enumerate(names):
        kind, _, cls = name.partition(":")
        if kind == "app":
            x[i] = app_logp[app_labels.index(cls)]
        else:
            v = float(np.log(max(au.get(cls, 0.0), _FLOOR)))
            x[i] = v if kind == "au" else trust * v
    return x


def temperature_of(z: np.ndarray, temperature: float, slope: float) -> np.ndarray:
    """The temperature a row of fused logits (or each row of a matrix) is divided by:
    ``temperature * exp(slope * margin)``, the margin its top logit less the next."""
    if slope == 0.0:
        return np.full((*z.shape[:-1], 1), temperature)
    top2 = np.sort(z, axis=-1)[..., -2:]
    margin = top2[..., 1:] - top2[..., :1]
    return temperature * np.exp(slope * margin)


class Fusion:
    def __init__(self, spec: FusionSpec, app_labels: list[str]) -> None:
        self.spec = spec
        self.app_labels = list(app_labels)
        self.classes = list(spec.classes)
        self.w = np.asarray(spec.weights, np.float64)
        self.b = np.asarray(spec.bias, np.float64)

    def __call__(
        self, app_logp: np.ndarray, au_scores: dict[str, float], trust: float
    ) -> dict[str, float]:
        """Probabilities over ``classes`` (plus repression when its rule holds)."""
        x = fusion_inputs(self.spec.inputs, self.app_labels, app_logp, au_scores, trust)
        z = self.w @ x + self.b
        z = z / temperature_of(z, self.spec.temperature, self.spec.temperature_slope)
        p = np.exp(z - z.max())
        p /= p.sum()
        out = {c: float(v) for c, v in zip(self.classes, p)}
        if au_scores.get("repression", 0.0) > 0.0 and "anger" in out:
            out["repression"] = out.pop("anger")
            out["anger"] = 0.0
        return out
