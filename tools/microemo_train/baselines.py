"""What the CNN is measured against, fold by fold on the same windows:

- ``logreg``: logistic regression on the same ReliefF-selected features, summarised over the
  window (mean, spread, peak: ``select.summarize``);
- ``blendshapes``: logistic regression on MediaPipe's 52 raw blendshapes at the window's last
  frame and their deviation from the face's neutral (``bs_*`` and ``dbs_*``): at the apex of a
  neutral->apex sequence that is "apex and apex minus neutral", the simple baseline of issue 12,
  here without any of this project's AU, geometry or selection work.

Both return probabilities over the training fold's labels, in label-index order.
"""

from __future__ import annotations

import numpy as np

from microemo.vision.features import FRAME_FEATURES
from microemo_train.select import summarize

BLENDSHAPE_COLUMNS = [
    i for i, n in enumerate(FRAME_FEATURES) if n.startswith("bs_") or n.startswith("dbs_")
]


def _logreg(xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, c: float) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=c))
    clf.fit(xtr, ytr)
    return np.asarray(clf.predict_proba(xte))


def logreg(xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray) -> np.ndarray:
    """LR on window summaries of the selected features ``x`` (n, frames, k)."""
    return _logreg(summarize(xtr), ytr, summarize(xte), 1.0)


def blendshapes(wtr: np.ndarray, ytr: np.ndarray, wte: np.ndarray) -> np.ndarray:
    """LR on the last frame's raw and neutral-relative blendshapes of full windows
    (n, frames, len(FRAME_FEATURES))."""
    return _logreg(wtr[:, -1, BLENDSHAPE_COLUMNS], ytr, wte[:, -1, BLENDSHAPE_COLUMNS], 0.1)


def in_fold(
    probs: np.ndarray, ytr: np.ndarray, n_labels: int
) -> np.ndarray:  # labels absent from a training fold get probability 0
    out = np.zeros((len(probs), n_labels), np.float32)
    out[:, np.unique(ytr)] = probs
    return out
