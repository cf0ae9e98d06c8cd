"""Per face, what the appearance model reads from the aligned face crop, kept between frames.

The model runs on a face's first frame and then at most ``rate_hz`` times a second
(``model.appearance_hz``; 0: every frame), so the cost per face stays bounded whatever the
frame rate; between readings the last one stands. A reading is not averaged with earlier
ones: the fusion is calibrated on single pictures, and a brief expression's apex must not
be diluted by the frames before it (an episode keeps the reading of its strongest frame, see
``episodes``). Faces that leave are forgotten with their id.
"""

from __future__ import annotations

import numpy as np

from microemo.model.appearance import AppearanceModel

_SLACK = 0.9  # a reading is due a little early: frame times jitter around the interval


class AppearanceReader:
    def __init__(self, model: AppearanceModel, rate_hz: float) -> None:
        self.model = model
        self.interval_ms = 1000.0 / rate_hz if rate_hz > 0 else 0.0
        self._faces: dict[int, tuple[float, np.ndarray]] = {}
        self.reads = 0  # model runs

    def update(self, face_id: int, t_ms: float, image: np.ndarray, landmarks: np.ndarray) -> None:
        """Read the face from ``image`` when a reading is due."""
        last = self._faces.get(face_id)
        if last is not None and t_ms - last[0] < self.interval_ms * _SLACK:
            return
        logp = self.model.log_probs(self.model.crop(image, landmarks))
        self.reads += 1
        self._faces[face_id] = (t_ms, logp)

    def logp(self, face_id: int) -> np.ndarray | None:
        """The face's latest reading (log-probabilities in the model's label order)."""
        r = self._faces.get(face_id)
        return None if r is None else r[1]

    def forget(self, face_id: int) -> None:
        self._faces.pop(face_id, None)
