"""``microemo-train fit``: a small 1-D temporal CNN (Keras 3) over (window_frames, k)
windows of the ReliefF-selected features, evaluated subject-independently.

Evaluation: GroupKFold by subject (``folds``), or leave-one-subject-out (``folds = 0`` or
more folds than subjects); a subject's windows are never on both sides of a split. Each fold
normalises with its own training statistics and trains a fresh CNN and its baselines
(``baselines``: logistic regression on the same features, and on the raw blendshapes). The
CNN's held-out probabilities also choose the bundle's ``fusion_weight`` (``fusion``), and the
FACS prototypes alone and the CNN mixed with them at that weight are scored as the device
would show them. Figures are pooled over folds: accuracy, UF1 (macro F1), UAR (macro
recall), per-class figures, a confusion-matrix PNG, clip-level accuracy (window probabilities
averaged per input) and last-window accuracy (each input's last window against its label).

The shipped model is then trained on all subjects but a held-out share (``holdout``) that
the int8 parity check uses, so parity is measured on people the model never saw.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from microemo.vision.features import columns
from microemo_train import baselines, fusion, settings
from microemo_train.select import load_windows, read_selection
from microemo_train.windows import WindowSet

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
logger = logging.getLogger(__name__)


@dataclass
class Norm:
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray) -> Norm:
        flat = x.reshape(-1, x.shape[-1])
        return cls(
            flat.mean(0).astype(np.float32), np.maximum(flat.std(0), 1e-3).astype(np.float32)
        )

    def apply(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.std).astype(np.float32)


def select_columns(ws: WindowSet, names: list[str]) -> np.ndarray:
    """The named columns, picked as the device picks a bundle's (``columns``)."""
    return ws.x[:, :, columns(names)]


def build_model(frames: int, k: int, n_labels: int, filters: int) -> Any:
    """Conv1D x2 -> global average and max over time -> logits. The device applies softmax."""
    import keras
    from keras import layers

    inp = keras.Input((frames, k), name="window")
    h = layers.Conv1D(filters, 5, padding="same", activation="relu")(inp)
    h = layers.Conv1D(filters, 3, padding="same", activation="relu")(h)
    h = layers.Concatenate()([layers.GlobalAveragePooling1D()(h), layers.GlobalMaxPooling1D()(h)])
    h = layers.Dropout(0.2)(h)
    out = layers.Dense(n_labels, name="logits")(h)
    model = keras.Model(inp, out)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def train_cnn(x: np.ndarray, y: np.ndarray, n_labels: int, cfg: settings.FitConfig) -> Any:
    import keras

    keras.utils.set_random_seed(cfg.seed)
    model = build_model(x.shape[1], x.shape[2], n_labels, cfg.filters)
    counts = np.bincount(y, minlength=n_labels).astype(np.float64)
    weights = {i: float(len(y) / (n_labels * c)) for i, c in enumerate(counts) if c > 0}
    model.fit(x, y, epochs=cfg.epochs, batch_size=cfg.batch_size, verbose=0, class_weight=weights)
    return model


def splits(groups: np.ndarray, folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import GroupKFold, LeaveOneGroupOut

    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise ValueError("subject-independent evaluation needs at least two subjects")
    cv = LeaveOneGroupOut() if folds == 0 or folds >= n_groups else GroupKFold(folds)
    out = list(cv.split(np.zeros(len(groups)), groups=groups))
    for tr, te in out:  # the guarantee the figures rest on
        assert not set(groups[tr]) & set(groups[te])
    return out


def scores(y: np.ndarray, pred: np.ndarray, labels: list[str]) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score

    idx = list(range(len(labels)))
    f1 = f1_score(y, pred, labels=idx, average=None, zero_division=0)
    rec = recall_score(y, pred, labels=idx, average=None, zero_division=0)
    present = np.isin(idx, y)
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "uf1": float(f1[present].mean()),
        "uar": float(rec[present].mean()),
        "per_class": {
            lab: {"f1": float(f1[i]), "recall": float(rec[i]), "support": int((y == i).sum())}
            for i, lab in enumerate(labels)
        },
        "confusion": confusion_matrix(y, pred, labels=idx).tolist(),
    }


def clip_accuracy(prob: np.ndarray, ws: WindowSet) -> float:
    """Per input: its windows that carry its own label, probabilities averaged."""
    hits = []
    for k in np.unique(ws.item):
        own = (ws.item == k) & (ws.y == ws.input_y)
        if own.any():
            hits.append(int(prob[own].mean(0).argmax() == ws.y[own][0]))
    return float(np.mean(hits))


def last_windows(ws: WindowSet) -> np.ndarray:
    """Each input's last window: what ``microemo analyze`` shows on an input's last row, the
    one a neutral->apex clip is scored by."""
    return np.array([int(np.flatnonzero(ws.item == k)[-1]) for k in np.unique(ws.item)])


def out_of_fold(ws: WindowSet, names: list[str], cfg: settings.FitConfig) -> dict[str, np.ndarray]:
    """Held-out probabilities of the CNN and its baselines, every window scored by models
    that never saw its subject."""
    x, y, n_labels = select_columns(ws, names), ws.y, len(ws.labels)
    probs = {k: np.zeros((len(y), n_labels), np.float32) for k in ("cnn", "logreg", "blendshapes")}
    folds = splits(ws.groups, cfg.folds)
    for i, (tr, te) in enumerate(folds):
        norm = Norm.of(x[tr])
        model = train_cnn(norm.apply(x[tr]), y[tr], n_labels, cfg)
        probs["cnn"][te] = softmax(model.predict(norm.apply(x[te]), verbose=0))
        probs["logreg"][te] = baselines.in_fold(
            baselines.logreg(x[tr], y[tr], x[te]), y[tr], n_labels
        )
        probs["blendshapes"][te] = baselines.in_fold(
            baselines.blendshapes(ws.x[tr], y[tr], ws.x[te]), y[tr], n_labels
        )
        logger.info(
            "fold %d/%d: cnn %.3f", i + 1, len(folds), (probs["cnn"][te].argmax(1) == y[te]).mean()
        )
    return probs


def cross_validate(
    ws: WindowSet, names: list[str], cfg: settings.FitConfig
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Figures of every model, and their held-out probabilities per window."""
    probs = out_of_fold(ws, names, cfg)
    rules = fusion.rule_evidence(ws.x)
    weight, curve = fusion.choose_weight(probs["cnn"], ws.y, ws.labels, rules)
    probs["rules"] = fusion.mixed(probs["cnn"], ws.labels, rules, 0.0)
    probs["cnn+rules"] = fusion.mixed(probs["cnn"], ws.labels, rules, weight)
    n_subjects = len(np.unique(ws.groups))
    out: dict[str, Any] = {
        "scheme": f"{cfg.folds}-fold by subject"
        if cfg.folds and cfg.folds < n_subjects
        else "leave-one-subject-out",
        "subjects": n_subjects,
        "windows": len(ws.y),
        "inputs": len(np.unique(ws.item)),
        "fusion_weight": weight,
        "fusion": curve,
    }
    last = last_windows(ws)
    for name, p in probs.items():
        out[name] = scores(ws.y, p.argmax(1), ws.labels)
        out[name]["clip_accuracy"] = clip_accuracy(p, ws)
        out[name]["last_window"] = scores(ws.input_y[last], p[last].argmax(1), ws.labels)
        out[name]["last_window_accuracy"] = out[name]["last_window"]["accuracy"]
    return out, probs


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def holdout_subjects(groups: np.ndarray, share: float, seed: int) -> np.ndarray:
    subjects = np.unique(groups)
    n = round(share * len(subjects))
    if share > 0 and len(subjects) > 2:
        n = max(1, n)
    return np.random.default_rng(seed).permutation(subjects)[:n]


def plot_confusion(cm: list[list[int]], labels: list[str], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(cm, float)
    rows = m / np.maximum(m.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1 + 0.7 * len(labels), 1 + 0.6 * len(labels)))
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j,
                i,
                str(int(m[i, j])),
                ha="center",
                va="center",
                color="white" if rows[i, j] > 0.5 else "black",
                fontsize=8,
            )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run_step(cfg: settings.TrainConfig) -> dict[str, Any]:
    ws, names = load_windows(cfg), read_selection(cfg.workdir)
    metrics, probs = cross_validate(ws, names, cfg.fit)
    # what the figures rest on, per window: for reports by emotion, subject or input
    arrays: dict[str, Any] = dict(probs, y=ws.y, input_y=ws.input_y, item=ws.item)
    np.savez_compressed(
        cfg.workdir / "oof.npz", **arrays, groups=ws.groups, labels=np.array(ws.labels)
    )
    hold = holdout_subjects(ws.groups, cfg.fit.holdout, cfg.fit.seed)
    train = ~np.isin(ws.groups, hold)
    x = select_columns(ws, names)
    norm = Norm.of(x[train])
    model = train_cnn(norm.apply(x[train]), ws.y[train], len(ws.labels), cfg.fit)
    wd = cfg.workdir
    model.save(wd / "model.keras")
    np.savez(wd / "fit.npz", mean=norm.mean, std=norm.std, holdout=np.array(hold, dtype=str))
    metrics["holdout_subjects"] = [str(s) for s in hold]
    (wd / "metrics.json").write_text(json.dumps(metrics, indent=1))
    c = metrics["cnn"]
    plot_confusion(
        c["confusion"],
        ws.labels,
        f"CNN, {metrics['scheme']}: acc {c['accuracy']:.2f} UF1 {c['uf1']:.2f} UAR {c['uar']:.2f}",
        wd / "confusion.png",
    )
    print_figures(metrics)
    print(f"  confusion matrix -> {wd / 'confusion.png'}")
    return metrics


MODELS = (
    ("cnn", "CNN"),
    ("logreg", "logistic regression, same features"),
    ("blendshapes", "logistic regression, raw blendshapes (last frame, and minus neutral)"),
    ("rules", "FACS prototypes alone (zero-shot)"),
    ("cnn+rules", "CNN mixed with the prototypes"),
)


def print_figures(metrics: dict[str, Any]) -> None:
    print(
        f"{metrics['scheme']} over {metrics['subjects']} subjects, {metrics['inputs']} inputs, "
        f"{metrics['windows']} windows; fusion_weight {metrics['fusion_weight']:.2f}"
    )
    print("  windows: acc UF1 UAR | each input's last window: acc UF1 | model")
    for key, name in MODELS:
        m, last = metrics[key], metrics[key]["last_window"]
        print(
            f"  {m['accuracy']:.3f} {m['uf1']:.3f} {m['uar']:.3f} | "
            f"{last['accuracy']:.3f} {last['uf1']:.3f} | {name}"
        )
    per_class = "  ".join(
        f"{k} {v['f1']:.2f}"
        for k, v in metrics["cnn+rules"]["last_window"]["per_class"].items()
        if v["support"]
    )
    print(f"  F1 per label, last windows, CNN mixed: {per_class}")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fit", help="train the CNN with subject-independent evaluation")
    settings.add_config_arg(p)
    p.add_argument("--epochs", type=int)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = settings.from_args(args)
    if args.epochs:
        cfg.fit.epochs = args.epochs
    run_step(cfg)
    return 0
