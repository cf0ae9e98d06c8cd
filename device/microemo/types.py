"""The values that flow between pipeline stages, one frame left to right.

source -> Frame -> landmarker -> FaceObservation -> tracker -> TrackedFace
-> normalizer -> NormalizedFace -> AU estimator -> AUFrame -> windows/classifier/spotter
-> Classification, EpisodeStep -> publish (event payloads, CSV, MQTT).
Plain dataclasses holding numpy arrays: cheap to build per frame, easy to record as .npz.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# AUs estimated on every frame, in OpenFace's column order (AU24 is ours, OpenFace lacks it).
AU_IDS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 24, 25, 26, 28, 45)
AU_NAMES: tuple[str, ...] = tuple(f"AU{n:02d}" for n in AU_IDS)
AU_INDEX: dict[int, int] = {n: i for i, n in enumerate(AU_IDS)}

# the core emotions a reading scores (``emotion.rules`` reads them; the outputs name them)
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

BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral",
    "browDownLeft",
    "browDownRight",
    "browInnerUp",
    "browOuterUpLeft",
    "browOuterUpRight",
    "cheekPuff",
    "cheekSquintLeft",
    "cheekSquintRight",
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "eyeLookDownLeft",
    "eyeLookDownRight",
    "eyeLookInLeft",
    "eyeLookInRight",
    "eyeLookOutLeft",
    "eyeLookOutRight",
    "eyeLookUpLeft",
    "eyeLookUpRight",
    "eyeSquintLeft",
    "eyeSquintRight",
    "eyeWideLeft",
    "eyeWideRight",
    "jawForward",
    "jawLeft",
    "jawOpen",
    "jawRight",
    "mouthClose",
    "mouthDimpleLeft",
    "mouthDimpleRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthFunnel",
    "mouthLeft",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthPucker",
    "mouthRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthShrugLower",
    "mouthShrugUpper",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "noseSneerLeft",
    "noseSneerRight",
)
BLENDSHAPE_INDEX: dict[str, int] = {n: i for i, n in enumerate(BLENDSHAPE_NAMES)}
# AUs that also get an optical-flow motion channel (vision.flow: brows, upper lids, nose
# wings; vision.mouth: lip corners and chin, what this face's articulation does not explain)
MOUTH_FLOW_AUS: tuple[str, ...] = ("AU12", "AU15", "AU17")
FLOW_AUS: tuple[str, ...] = ("AU01", "AU02", "AU04", "AU05", "AU09", *MOUTH_FLOW_AUS)


@dataclass(slots=True)
class Frame:
    """One picture from a source. ``t_ms`` is the source's own clock (file position for
    files, capture time for cameras); ``captured_at`` is ``time.monotonic()`` at capture and
    is what latency is measured from."""

    image: np.ndarray  # H x W x 3, BGR uint8
    t_ms: float
    index: int
    captured_at: float = 0.0
    still: bool = False  # a single picture, not a frame of a video or camera


@dataclass(slots=True)
class FaceObservation:
    """One face as the landmarker saw it on one frame."""

    landmarks: np.ndarray  # (478, 3) float32; x, y in [0, 1] of width/height, z in width units
    blendshapes: np.ndarray  # (52,) float32, BLENDSHAPE_NAMES order
    pose: np.ndarray  # (4, 4) float32 facial transformation matrix (canonical face -> camera, cm)
    image_size: tuple[int, int]  # (width, height) in pixels
    # (len(vision.flow.FLOW_POINTS), 2) optical-flow displacement since the previous frame,
    # in pixels of image_size, NaN where lost; None when not measured (first frame, flow
    # off, recorded data)
    flow: np.ndarray | None = None


@dataclass(slots=True)
class TrackedFace:
    face_id: int
    obs: FaceObservation
    confidence: float  # how sure the tracker is this is the same face (0-1)


@dataclass(slots=True)
class NormalizedFace:
    """A face with head pose removed and scaled to unit face width."""

    face_id: int
    obs: FaceObservation
    points: np.ndarray  # (478, 3) frontal, face-width units, y up, x to the subject's left
    geometry: np.ndarray  # (n_geometry,) signals, see vision.geometry.GEOMETRY_NAMES
    pose_t_mm: np.ndarray  # (3,) head translation, millimetres (OpenFace pose_T*)
    pose_r_rad: np.ndarray  # (3,) pitch, yaw, roll in radians (OpenFace pose_R*)
    face_width_px: float


@dataclass(slots=True)
class AUFrame:
    """Action Units of one face on one frame, relative to that face's neutral baseline."""

    face_id: int
    t_ms: float
    intensity: np.ndarray  # (len(AU_IDS),) float32 on OpenFace's 0-5 scale
    present: np.ndarray  # (len(AU_IDS),) bool
    features: np.ndarray  # (len(FRAME_FEATURES),) float32, see vision.features
    face: NormalizedFace
    baseline_ready: bool = False  # False while the face's neutral estimate is still forming
    trust: float = 0.0  # 0-1: how far the face's own neutral baseline is trusted (AUs' mean)
    # (len(AU_IDS),) float32 0-5: recent movement of each AU's points by optical flow
    # (vision.flow), fading within about a second; zeros when flow is off
    motion: np.ndarray | None = None

    def au(self, n: int) -> float:
        return float(self.intensity[AU_INDEX[n]])


@dataclass
class Classification:
    """The emotions of one AU intensity vector (``emotion.rules.classify_aus``)."""

    core: str
    core_source: str  # "cnn", "cnn+rules" or "rules"
    core_score: float
    scores: dict[str, float] = field(default_factory=dict)
    micro: str | None = None
    micro_state: str | None = None
    micro_rule: str | None = None
    aus: list[str] = field(default_factory=list)  # AUs that supported the result
    # where the CNN took part: its own best class and the FACS prototypes' own pick, so a
    # consumer can tell when they disagree (None when the rules decided alone)
    cnn_core: str | None = None
    rules_core: str | None = None

    def expressed(self) -> tuple[str, float] | None:
        """The emotion this face most likely shows if it shows one: the best class but
        ``neutral``, with its probability given that the face is not at rest (its score over
        the scores of every class but neutral); None when no class but neutral is scored.
        What a face known to hold an expression is read as (a micro-expression's apex frame:
        MEGC's classes have no neutral), where the shown emotion may be the resting face that
        a slight expression nearly is."""
        rest = [k for k in self.scores if k != "neutral"]
        if not rest:
            return None
        best = max(rest, key=self.scores.__getitem__)
        return best, given_expression(self.scores, [best])


def given_expression(scores: Mapping[str, float], classes: Iterable[str]) -> float:
    """How likely a face shows one of ``classes`` given that it shows an expression: their
    scores over the scores of every class but neutral (0 when those are all 0)."""
    rest = sum(v for k, v in scores.items() if k != "neutral")
    wanted = set(classes) - {"neutral"}
    return sum(v for k, v in scores.items() if k in wanted) / rest if rest > 0 else 0.0


@dataclass(frozen=True, slots=True)
class EpisodeStep:
    """One step of an episode on one face, as ``emotion.episodes`` hands it on: ``start`` at
    onset, ``update`` at apex, ``end`` at offset. Times are the source's clock in ms. The
    event payload is built from it by ``publish.events.EventBuilder``, and only there."""

    phase: str  # start | update | end
    episode_id: str  # fixed at onset: consumers dedupe on (episode_id, phase)
    face_id: int
    t_ms: float
    onset_ms: float
    apex_ms: float | None
    offset_ms: float | None  # set on ``end`` only
    classification: Classification
    apex_aus: dict[str, float]  # AU name -> intensity at the apex
    model: dict[str, Any]  # name, version, sha256 of the model that classified it
    # name, version, sha256 of the appearance model, where it took part in ``core_source``
    appearance: dict[str, Any] | None = None
    regions: tuple[str, ...] = ()  # face regions that carried it: brows, eyes, nose, mouth
    within: str | None = None  # the id of the held episode of this face it rose on top of


@dataclass(frozen=True, slots=True)
class CabinStep:
    """One step of a cabin episode on one face (``cabin.stage``): ``start`` once a microsleep,
    yawn or distraction has lasted its threshold, ``end`` when it is over; a blink has only
    its ``end``. ``readings`` are the face's cabin readings at ``t_ms`` (PERCLOS, angles). The
    event payload is built from it by ``publish.events.EventBuilder``, and only there."""

    phase: str  # start | end
    kind: str  # blink | microsleep | yawn | distraction
    episode_id: str  # fixed at onset: consumers dedupe on (episode_id, phase)
    face_id: int
    t_ms: float
    onset_ms: float
    offset_ms: float | None  # set on ``end`` only
    cause: str | None = None  # distraction: glance | time_share
    readings: dict[str, Any] = field(default_factory=dict)
    ended_by: str | None = None  # face_lost: the face was gone before the episode ended


Step = EpisodeStep | CabinStep


@dataclass(slots=True)
class FrameResult:
    """What the pipeline made of one frame: every face's AUs, the episode and cabin steps it
    took, and each watched face's cabin state (a plain dict, ``cabin.stage``)."""

    frame_index: int
    t_ms: float
    faces: list[AUFrame] = field(default_factory=list)
    emotions: dict[int, dict] = field(default_factory=dict)  # face_id -> latest classification
    steps: list[Step] = field(default_factory=list)
    cabin: dict[int, dict] = field(default_factory=dict)  # face_id -> cabin state
    stage_ms: dict[str, float] = field(default_factory=dict)
    error: str | None = None  # the landmarker raised on this frame (in a pool worker)
