"""The mouth while it talks: lip-corner and chin motion that this face's articulation does
not explain.

Speech moves the jaw, opens, closes and rounds the lips several times a second, by 5-10 % of
the face width: far more than a brief smile (AU12), a flash of the corners going down
(AU15), a dimpler (AU14) or a chin raise (AU17). Those move the corners and the chin in
ways articulation rarely does, so each is measured as what is left of a movement once this
face's own articulation has been predicted away:

- **Motion in the mouth's own frame.** Optical flow (``vision.flow``) at the lip corners
  (two points a side), the chin (three points), the middle of the upper and lower lip, taken
  relative to the nose tip (rigid with the skull; the brow AUs that drag the nose bridge do
  not reach it), in the face's axes and face widths, integrated with the same leak as the
  brows (``flow_tau_ms``): how far each point moved in the last second or so.
- **Articulators.** The lower and upper lip's vertical motion (flow) and, from the mesh,
  the change of the lip gap and of the lower lip's height (what MediaPipe tracks well: the
  dark mouth opening); for the chin also the jaw line beside it (flow at two points a side,
  0.17 and 0.25 face widths out). The jaw is one bone: in speech the chin moves with the
  jaw line, while a chin raise (AU17, the mentalis pushing the chin boss and lower lip up)
  leaves the jaw line where it was. From the lips alone the chin's residual answered a clear
  AU17 with a signal-to-noise of 1-5 on the tuning clips, with the jaw line 5-14.
- **A per-face model of articulation.** Corner height, corner spread and chin height are
  each regressed on the articulators (least squares over exponentially weighted sums with
  a time constant of ``model_tau_ms``, refitted every frame: 5 x 5 for the corners, 7 x 7
  for the chin: the jaw line did not help the corners on held-out clips), starting from a typical
  face's coefficients (the prior weighs a second of video). Frames whose residual
  is far out of this face's usual range do not teach the model, so an expression is not
  learned as speech. What the model cannot predict is the expression: AU12 = corners up,
  AU15 = corners down, AU17 = chin up (0-5, ``flow_full`` = 5). The corners' spread is
  modelled too, but AU14 (corners in) is not reported (see ``MOUTH_AUS``).

The spotter takes these channels during speech too (its speech hold covers the mouth's AU
intensities only). Cost: see ``benchmarks/bench_mouth.py``.
"""

from __future__ import annotations

import math

import numpy as np

from microemo.types import AU_INDEX, AU_NAMES

# name -> (right, left) landmark ids; midline points appear once
CORNERS: tuple[int, ...] = (61, 291, 57, 287)
CHIN: tuple[int, ...] = (152, 175, 199)
LOWER_LIP, UPPER_LIP = 17, 0
# the jaw line beside the chin, rigid with it: 0.17 (front) and 0.25 (back) face widths out
JAW_FRONT: tuple[int, ...] = (176, 400)
JAW_BACK: tuple[int, ...] = (149, 378)
JAW: tuple[int, ...] = (*JAW_FRONT, *JAW_BACK)
REF: tuple[int, ...] = (1, 4, 5)  # nose tip and just above: moves with the skull
MOUTH_POINTS: tuple[int, ...] = (*CORNERS, *CHIN, LOWER_LIP, UPPER_LIP, *JAW, *REF)
_N_CORNER = len(CORNERS)
_N_MOVING = len(MOUTH_POINTS) - len(REF)
# landmark -> its row in a mouth_step (and in Articulation.acc): MOUTH_POINTS but REF
ROW: dict[int, int] = {p: i for i, p in enumerate(MOUTH_POINTS[:_N_MOVING])}
_CORNER_ROWS, _CHIN_ROWS = [ROW[p] for p in CORNERS], [ROW[p] for p in CHIN]
_JAW_FRONT_ROWS, _JAW_BACK_ROWS = [ROW[p] for p in JAW_FRONT], [ROW[p] for p in JAW_BACK]
_LIP_IN_UP, _LIP_IN_LOW = 13, 14  # inner lip midpoints (the opening)
_R_FACE, _L_FACE = 234, 454
_MESH_ROWS = np.array([_L_FACE, _R_FACE, _LIP_IN_UP, _LIP_IN_LOW, LOWER_LIP, *REF])

_VAR_TAU_MS = 4000.0  # the residual range follows the face faster than the model
N_PRED = 7  # 1, lower lip up, upper lip up, lip gap change, lower lip height change, jaw up x2
N_TARGET = 3  # corner up, corner out, chin up
# AU channel <- (target, sign): what the model cannot explain, in the AU's direction
# AU14 (corners in, -corner out) is left out: speech rounds and spreads the lips all the
# time, and its residual was as large as a clear dimpler (idle RMS 1.6 against a median
# peak of 3.1 on the tuning clips); it gave macro false alarms and no hit.
MOUTH_AUS: dict[str, tuple[int, float]] = {"AU12": (0, 1.0), "AU15": (0, -1.0), "AU17": (2, 1.0)}
_ROWS = np.array([AU_INDEX[int(a[2:])] for a in MOUTH_AUS])
_PICK = np.array([t for t, _ in MOUTH_AUS.values()])
_SIGN = np.array([s for _, s in MOUTH_AUS.values()], np.float32)
# Prior coefficients (rows: 1, lower lip, upper lip, lip gap, lower-lip height, jaw line
# front and back; columns: corner up, corner out, chin up): the median over the tuning clips
# of spot-eval (CREMA-D ANG, NEU, DIS; per clip, least squares on the frames away from the
# added expressions; the chin's refitted with the jaw line on 67 of them), weighing
# _PRIOR_S seconds of a predictor spread of _PRIOR_SD face widths.
_PRIOR_COEF = np.array(
    [
        [0.0, 0.0, 0.0],
        [0.10, -0.97, 0.17],
        [0.38, 0.22, 0.19],
        [0.30, 0.09, 0.07],
        [0.36, 1.0, 0.08],
        [0.0, 0.0, 1.04],
        [0.0, 0.0, -0.20],
    ]
)
_CORNER_PRED = 5  # the corners' predictors: the jaw line helps the chin only (see coef)
_PRIOR_S, _PRIOR_SD = 1.0, 0.02
_PRIOR_ZZ = _PRIOR_S * np.diag([1.0] + [_PRIOR_SD**2] * (N_PRED - 1))


def mouth_step(d: np.ndarray, landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
    """This frame's flow ``d`` (pixels, MOUTH_POINTS rows) relative to the nose tip, as
    (out, up) in face widths (out: away from the midline; zero for midline points)."""
    if np.isnan(d[_N_MOVING:]).any():
        return None
    w, h = size
    lm = landmarks[[_L_FACE, _R_FACE, *MOUTH_POINTS], :2] * np.array([w, h], np.float32)
    u = lm[0] - lm[1]
    fw = float(np.linalg.norm(u))
    if fw < 1.0:
        return None
    u = u / fw
    up = np.array([u[1], -u[0]], np.float32)  # image y grows downwards
    rel = np.nan_to_num(d[:_N_MOVING] - d[_N_MOVING:].mean(0), nan=0.0)
    mid = lm[2 + _N_MOVING :].mean(0)
    side = np.sign((lm[2 : 2 + _N_MOVING] - mid) @ u)
    side[_N_CORNER:] = 0.0  # only the corners' "out" is read (chin and lips: the midline)
    return (np.stack([side * (rel @ u), rel @ up], 1) / fw).astype(np.float32)


def mesh_signals(landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Lip gap and lower-lip height (face widths) from the mesh."""
    w, h = size
    lm = landmarks[_MESH_ROWS, :2] * np.array([w, h], np.float32)
    u = lm[0] - lm[1]
    fw = float(np.linalg.norm(u)) or 1.0
    up = np.array([u[1], -u[0]], np.float32) / fw
    ref = lm[5:].mean(0)
    return np.array([(lm[2] - lm[3]) @ up / fw, (lm[4] - ref) @ up / fw], np.float32)


class Articulation:
    """One face's model of its own articulation, and the mouth AU motion it leaves out."""

    def __init__(self, tau_ms: float, model_tau_ms: float, full: float) -> None:
        self.tau_ms = tau_ms
        self.model_tau_ms = model_tau_ms
        self.full = full
        self.t_ms: float | None = None
        self.acc = np.zeros((_N_MOVING, 2), np.float32)  # leaky sum of mouth_step
        self.mesh_ema: np.ndarray | None = None
        # the prior: a typical talking face's coefficients, weighing _PRIOR_S of video
        self.szz = _PRIOR_ZZ.copy()
        self.szy = _PRIOR_ZZ @ _PRIOR_COEF
        self.var = np.full(N_TARGET, 1e-4)  # running residual variance (robust teaching)
        self.seen_ms = 0.0

    def __call__(self, step: np.ndarray | None, mesh: np.ndarray, t_ms: float) -> np.ndarray:
        """AU motion (len(AU_NAMES),), non-zero only in the MOUTH_AUS rows."""
        dt = 0.0 if self.t_ms is None else max(t_ms - self.t_ms, 0.0)
        self.t_ms = t_ms
        self.acc *= np.float32(math.exp(-dt / self.tau_ms))
        if step is not None:
            self.acc += step
        if self.mesh_ema is None:
            self.mesh_ema = mesh.copy()
        self.mesh_ema += np.float32(1.0 - math.exp(-dt / self.tau_ms)) * (mesh - self.mesh_ema)
        z, y = self._vectors(mesh - self.mesh_ema)
        res = y - z @ self.coef()
        self._teach(z, y, res, dt)
        out = np.zeros(len(AU_NAMES), np.float32)
        out[_ROWS] = np.clip(5.0 * _SIGN * res[_PICK] / self.full, 0.0, 5.0)
        return out

    def coef(self) -> np.ndarray:
        """(N_PRED, N_TARGET) coefficients; the corners' ignore the jaw (_CORNER_PRED)."""
        szz = self.szz + np.eye(N_PRED) * 1e-6
        coef = np.zeros((N_PRED, N_TARGET))
        k = _CORNER_PRED
        coef[:k, :2] = np.linalg.solve(szz[:k, :k], self.szy[:k, :2])
        coef[:, 2] = np.linalg.solve(szz, self.szy[:, 2])
        return coef

    def _vectors(self, mesh_change: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = self.acc
        corner_out = float(a[_CORNER_ROWS, 0].mean())
        corner_up = float(a[_CORNER_ROWS, 1].mean())
        chin_up = float(a[_CHIN_ROWS, 1].mean())
        low, upper = a[ROW[LOWER_LIP], 1], a[ROW[UPPER_LIP], 1]
        jaw_front, jaw_back = a[_JAW_FRONT_ROWS, 1].mean(), a[_JAW_BACK_ROWS, 1].mean()
        z = np.array([1.0, low, upper, mesh_change[0], mesh_change[1], jaw_front, jaw_back])
        return z, np.array([corner_up, corner_out, chin_up])

    def _teach(self, z: np.ndarray, y: np.ndarray, res: np.ndarray, dt: float) -> None:
        """Exponentially weighted least-squares sums; a frame far out of the usual residual
        range (an expression, a tracking slip) is left out once the model has seen enough."""
        self.seen_ms += dt
        k = math.exp(-dt / self.model_tau_ms)
        outlier = bool((res**2 > 16.0 * self.var).any()) and self.seen_ms > 2000.0
        b = 1.0 - math.exp(-dt / _VAR_TAU_MS)
        w = dt / 1000.0  # weights per second of video, so 100 fps learns as 30 fps does
        if not outlier:
            self.szz = self.szz * k + w * np.outer(z, z)
            self.szy = self.szy * k + w * np.outer(z, y)
        self.var += b * (np.minimum(res**2, 16.0 * self.var) - self.var)
