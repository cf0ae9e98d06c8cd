"""The fusion of the appearance reading with the AU evidence, fitted and calibrated.

Rows are faces the appearance CNN never trained on, each with the CNN's log-probabilities,
the FACS prototypes' probabilities over the AUs the device reads there, and the baseline
trust it had (0 for a still read alone; near 1 for an apex read after the same face's
neutral). The fusion is a softmax over their named log-probabilities
(``emotion.fusion.fusion_inputs``, the device's own function) of the ``Structured`` form:
three numbers shared by every class and a bias each, fitted by weighted maximum likelihood,
each data set weighing its ``share`` (a camera's own class mix stands within it); then one
temperature (or one that follows the margin between the top two classes), fitted on held-out
folds, so that the shown score means what it says.

Measured on the development sets (docs/real-faces.md): a free matrix over the same inputs, or
classes balanced within a set, fitted the posed set's prototypes into the in-the-wild faces'
reading and lost 2-5 points there for 1-3 on the posed faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from microemo.emotion.fusion import fusion_inputs, temperature_of
from microemo.emotion.rules import CORE_EMOTIONS
from microemo.model.appearance import FusionSpec, log_softmax

# the prototypes' classes in a fixed order; repression (anger's AUs, held weakly) counts as anger
PROTO_CLASSES: tuple[str, ...] = tuple(sorted(set(CORE_EMOTIONS) - {"repression"}))


@dataclass
class FusionRows:
    app: np.ndarray  # (n, n_app) log-probabilities of the appearance CNN
    au: np.ndarray  # (n, len(PROTO_CLASSES)) prototype probabilities (repression in anger)
    trust: np.ndarray  # (n,)
    label: np.ndarray  # (n,) str
    group: np.ndarray  # (n,) str: rows that must share a fold (a subject, a copy group)
    source: np.ndarray  # (n,) str: the data set

    def __len__(self) -> int:
        return len(self.label)

    def take(self, idx: np.ndarray) -> FusionRows:
        return FusionRows(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))

    @staticmethod
    def concat(parts: list[FusionRows]) -> FusionRows:
        return FusionRows(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in FusionRows.__dataclass_fields__
            )
        )


def input_names(app_labels: list[str], with_trust: bool = True) -> list[str]:
    names = [f"app:{c}" for c in app_labels] + [f"au:{c}" for c in PROTO_CLASSES]
    return names + ([f"trust*au:{c}" for c in PROTO_CLASSES] if with_trust else [])


def design(rows: FusionRows, names: list[str], app_labels: list[str]) -> np.ndarray:
    return np.array(
        [
            fusion_inputs(
                names,
                app_labels,
                rows.app[i],
                dict(zip(PROTO_CLASSES, rows.au[i])),
                float(rows.trust[i]),
            )
            for i in range(len(rows))
        ]
    )


def weights(rows: FusionRows, share: dict[str, float] | None = None) -> np.ndarray:
    """Each data set weighs ``share[name]`` in total (default: all alike); within it, each
    still the same (the set's own class mix stands: a camera's faces are mostly at rest)."""
    w = np.zeros(len(rows))
    sources = sorted(set(rows.source.tolist()))
    share = share or {}
    total = sum(share.get(s, 1.0) for s in sources)
    for s in sources:
        m = rows.source == s
        w[m] = share.get(s, 1.0) / total / m.sum()
    return w * len(rows)


class Structured:
    """The fusion's form: for each class k, ``a * app:k + b * au:k + c * trust*au:k + bias_k``
    (three numbers shared by every class, and a bias each). Few enough to fit on a few
    thousand faces without learning one data set's quirks; a class the appearance model does
    not have (contempt) is read from the AUs alone."""

    def __init__(self, classes: list[str], app_labels: list[str]) -> None:
        self.classes = classes
        self.names = input_names(app_labels)
        self.cols = {
            kind: [
                self.names.index(f"{kind}:{c}") if f"{kind}:{c}" in self.names else -1
                for c in classes
            ]
            for kind in ("app", "au", "trust*au")
        }

    def matrix(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = np.zeros((len(self.classes), len(self.names)))
        for value, kind in zip(p[:3], ("app", "au", "trust*au")):
            for k, col in enumerate(self.cols[kind]):
                if col >= 0:
                    w[k, col] = value
        return w, p[3:]

    def fit(self, x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1e-3) -> np.ndarray:
        from scipy.optimize import minimize

        def loss(p: np.ndarray) -> float:
            wm, b = self.matrix(p)
            z = x @ wm.T + b
            z = z - z.max(axis=1, keepdims=True)
            lp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            return float(-(w * lp[np.arange(len(y)), y]).sum() / w.sum() + l2 * (p**2).sum())

        p0 = np.zeros(3 + len(self.classes))
        p0[0] = 1.0
        return np.asarray(minimize(loss, p0, method="L-BFGS-B").x)


def calibration(
    z: np.ndarray, y_idx: np.ndarray, w: np.ndarray, margin: bool = False
) -> tuple[float, float]:
    """The temperature (and with ``margin`` its slope on the top two logits' margin, 0 or
    below: ``emotion.fusion.temperature_of``) minimising the weighted negative
    log-likelihood of held-out logits."""
    from scipy.optimize import minimize

    def nll(p: np.ndarray) -> float:
        lp = log_softmax(z / temperature_of(z, float(np.exp(p[0])), float(p[1])))
        return float(-(w * lp[np.arange(len(y_idx)), y_idx]).sum() / w.sum())

    bounds = [(-3.0, 3.0), (-2.0, 0.0) if margin else (0.0, 0.0)]
    p = minimize(nll, np.zeros(2), method="L-BFGS-B", bounds=bounds).x
    return float(np.exp(p[0])), float(p[1])


def calibrated(z: np.ndarray, t: float, slope: float) -> np.ndarray:
    """Probabilities of fused logits under a fitted calibration."""
    return np.exp(log_softmax(z / temperature_of(z, t, slope)))


@dataclass
class FusionFit:
    spec: FusionSpec
    classes: list[str]
    oof: np.ndarray  # out-of-fold probabilities, calibrated as ``spec`` says (for the figures)
    oof_one: np.ndarray  # the same under one temperature (what the margin's slope changed)


def fit_fusion(
    rows: FusionRows,
    app_labels: list[str],
    share: dict[str, float] | None = None,
    folds: int = 5,
    seed: int = 0,
    margin: bool = False,
) -> FusionFit:
    """The fusion fitted on every row, its calibration (one temperature, or with ``margin``
    one that follows the top two classes' margin) from out-of-fold logits (folds of whole
    groups); and the calibrated out-of-fold probabilities (for the figures)."""
    classes = sorted(set(rows.label.tolist()))
    form = Structured(classes, app_labels)
    x = design(rows, form.names, app_labels)
    y = np.array([classes.index(v) for v in rows.label])
    w = weights(rows, share)
    groups = sorted(set(rows.group.tolist()))
    fold_of = dict(zip(groups, np.random.default_rng(seed).permutation(len(groups)) % folds))
    fold = np.array([fold_of[g] for g in rows.group])
    z = np.zeros((len(rows), len(classes)))
    for k in range(folds):
        tr, te = fold != k, fold == k
        wm, b = form.matrix(form.fit(x[tr], y[tr], w[tr]))
        z[te] = x[te] @ wm.T + b
    one = calibration(z, y, w)
    t, slope = calibration(z, y, w, margin) if margin else one
    wm, b = form.matrix(form.fit(x, y, w))
    spec = FusionSpec(
        classes=classes,
        inputs=form.names,
        weights=wm.round(5).tolist(),
        bias=b.round(5).tolist(),
        temperature=round(t, 4),
        temperature_slope=round(slope, 4) + 0.0,  # not -0.0
    )
    oof = calibrated(z, t, slope)
    return FusionFit(spec, classes, oof, calibrated(z, *one) if margin else oof)
