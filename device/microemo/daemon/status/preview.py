"""The camera preview of the status page: the newest frame with each face's mesh drawn on.

Only when the owner turns it on (``status.preview = true``), only to the status page, never
over MQTT or into any file. Drawn and JPEG-encoded in the server's thread, on a copy of the
frame the board holds, at most ``status.preview_fps`` times a second however many pages
ask (they share the last picture); the frame loop never waits for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from microemo.daemon.status.board import StatusBoard
from microemo.types import Frame, FrameResult

# MediaPipe's face mesh tessellation (FaceLandmarksConnections.FACE_LANDMARKS_TESSELATION,
# Apache-2.0), each edge once: 1322 pairs of landmark indices, saved here so that drawing
# does not import MediaPipe into the daemon's process
EDGES_FILE = Path(__file__).with_name("mesh_edges.npy")
MAX_WIDTH = 640
# BGR by face id: yellow, magenta, cyan, orange (clear of skin, and of a green screen)
COLOURS = ((40, 230, 255), (230, 80, 230), (255, 220, 60), (40, 140, 255))
MESH_ALPHA = 0.4  # the mesh half see-through: the face under it still shows


def draw(frame: Frame, result: FrameResult, edges: np.ndarray) -> np.ndarray:
    """A copy of ``frame``'s picture, at most ``MAX_WIDTH`` wide, with every face's mesh and
    its id and core emotion."""
    img = frame.image
    h, w = img.shape[:2]
    if w > MAX_WIDTH:
        img = cv2.resize(img, (MAX_WIDTH, round(h * MAX_WIDTH / w)), interpolation=cv2.INTER_AREA)
    else:
        img = img.copy()
    h, w = img.shape[:2]
    mesh = img.copy()
    labels = []
    for face in result.faces:
        colour = COLOURS[face.face_id % len(COLOURS)]
        pts = np.rint(face.face.obs.landmarks[:, :2] * (w, h)).astype(np.int32)
        lines = np.stack([pts[edges[:, 0]], pts[edges[:, 1]]], axis=1)
        cv2.polylines(mesh, list(lines), False, colour, 1, cv2.LINE_AA)
        state = result.emotions.get(face.face_id) or {}
        text = f"face {face.face_id} {state.get('core', '')}".strip()
        labels.append((text, (int(pts[:, 0].min()), max(int(pts[:, 1].min()) - 6, 12)), colour))
    if labels:
        img = cv2.addWeighted(mesh, MESH_ALPHA, img, 1.0 - MESH_ALPHA, 0.0)
    for text, at, colour in labels:
        cv2.putText(img, text, at, cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(img, text, at, cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    return img


class Preview:
    """The newest preview picture as JPEG, re-drawn at most ``fps`` times a second."""

    def __init__(
        self, board: StatusBoard, fps: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._board = board
        self._period = 1.0 / fps
        self._clock = clock
        self._lock = threading.Lock()  # one page draws, the others take its picture
        self._edges = np.load(EDGES_FILE)
        self._jpeg: bytes | None = None
        self._index = -1
        self._at = 0.0
        self.encoded = 0

    def jpeg(self) -> bytes | None:
        """The picture, or None before the first frame."""
        with self._lock:
            now = self._clock()
            if self._jpeg is not None and now - self._at < self._period:
                return self._jpeg
            latest = self._board.latest()
            if latest is None:
                return self._jpeg
            frame, result = latest
            if frame.index != self._index or self._jpeg is None:
                ok, buf = cv2.imencode(
                    ".jpg", draw(frame, result, self._edges), [cv2.IMWRITE_JPEG_QUALITY, 75]
                )
                if ok:
                    self._jpeg, self._index = buf.tobytes(), frame.index
                    self.encoded += 1
            self._at = now
            return self._jpeg
