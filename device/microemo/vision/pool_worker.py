"""One landmarker worker process of ``vision.pool``, and the shared memory frames reach it by.

The worker owns a VIDEO-mode ``Landmarker`` (with its small-face search when configured) and
landmarks the frames it is sent, in the order sent, with its own increasing timestamps.
It is started as ``python -m microemo.vision.pool_worker FD`` with one end of a socket pair:
no ``multiprocessing`` start-up that would re-run the caller's main script. Pixels come
through anonymous shared memory (``memfd``; its descriptor is passed over the socket, so
nothing is left behind in /dev/shm however the processes end); the faces go back as plain
arrays. Messages (``multiprocessing.connection`` framing):

    pool -> worker   config dict             first, once
                     ("slot", slot, size)    then the slot's memfd over the socket
                     ("frame", seq, slot, shape, t_ms, index, still)
                     ("reset",)              a new stream: a fresh VIDEO task (``new_stream``)
                     None                    stop
    worker -> pool   ("ready", pid)          the landmarker is built
                     ("faces", seq, faces, ms)   faces: (landmarks, blendshapes, pose, size)
                     ("error", seq, text)        the landmarker raised on that frame
                     ("failed", text)            the landmarker could not be built

SIGINT and SIGTERM are ignored: Ctrl-C on a terminal and systemd's stop reach the whole
process group, and the pool, not the signal, decides when a worker ends. Its socket closes
when the pool's process ends, however it ends, and the worker then exits.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from microemo.types import Frame

logger = logging.getLogger(__name__)


class FrameSlot:
    """Shared memory one frame at a time is copied into (pool side). It grows when a bigger
    frame comes; ``put`` then says so, and the new descriptor must be sent."""

    def __init__(self) -> None:
        self.fd = -1
        self.size = 0
        self._map: mmap.mmap | None = None

    def put(self, image: np.ndarray) -> bool:
        """Copy ``image`` in; True when the memory was (re)made for it."""
        grown = self._map is None or self.size < image.nbytes
        if grown:
            self.close()
            self.size = max(image.nbytes, 1)
            self.fd = os.memfd_create("microemo-frame", os.MFD_CLOEXEC)
            os.ftruncate(self.fd, self.size)
            self._map = mmap.mmap(self.fd, self.size)
        assert self._map is not None
        view = np.frombuffer(self._map, np.uint8, image.nbytes).reshape(image.shape)
        np.copyto(view, image, casting="unsafe")
        return grown

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class WorkerProcess:
    """The pool's handle on one worker: start it, send it frames, read what it says, end it.
    ``jobs`` are the frames it holds, oldest first (it finishes them in that order)."""

    def __init__(self, place: int, config_data: dict[str, Any], depth: int) -> None:
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "microemo.vision.pool_worker", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            env=env,
        )
        theirs.close()
        self.place = place
        self.sock = ours
        self.conn = Connection(os.dup(ours.fileno()))
        self.slots = [FrameSlot() for _ in range(depth)]
        self.state = "starting"  # starting | ready | gone (its pipe closed) | dead (buried)
        self.failure = ""  # why it could not build its landmarker
        self.jobs: deque[Any] = deque()
        self.busy_since = 0.0
        self.sent = 0
        self.send(config_data)

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, msg: object) -> None:
        try:
            self.conn.send(msg)
        except OSError:
            self.state = "gone" if self.state != "dead" else "dead"

    def send_frame(self, seq: int, frame: Frame) -> None:
        """Copy the frame into the next slot (a worker finishes its frames in order, so the
        slot of the frame ``depth`` back is free) and tell the worker."""
        slot = self.sent % len(self.slots)
        self.sent += 1
        image = frame.image
        try:
            if self.slots[slot].put(image):
                self.conn.send(("slot", slot, self.slots[slot].size))
                socket.send_fds(self.sock, [b"m"], [self.slots[slot].fd])
            msg = ("frame", seq, slot, image.shape, frame.t_ms, frame.index, frame.still)
            self.conn.send(msg)
        except OSError:
            self.state = "gone"  # it died: ``collect`` settles its frames

    def messages(self) -> list[tuple[Any, ...]]:
        """What it sent so far; an ended worker's last results included."""
        out = []
        try:
            while self.conn.poll():
                out.append(self.conn.recv())
        except (EOFError, OSError):
            self.state = "gone"
        return out

    def exit_text(self) -> str:
        try:
            code = self.process.wait(1.0)
        except subprocess.TimeoutExpired:
            return "closed its pipe"
        if code < 0:
            return f"was killed by signal {-code}"
        return f"exited with status {code}"

    def end(self, grace_s: float = 0.0) -> None:
        """Stop it (after ``grace_s`` to finish on its own) and free its memory."""
        if grace_s > 0:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace_s)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5.0)
        self.conn.close()
        self.sock.close()
        for slot in self.slots:
            slot.close()


def main() -> None:
    """``python -m microemo.vision.pool_worker FD``: serve the pool on socket ``FD``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # as the daemon does: MediaPipe would import TensorFlow when installed, for nothing
    sys.modules.setdefault("tensorflow", None)  # type: ignore[arg-type]
    sock = socket.socket(fileno=int(sys.argv[1]))
    conn = Connection(os.dup(sock.fileno()))
    try:
        config_data = conn.recv()
    except (EOFError, OSError):
        return
    import cv2

    from microemo.config import LandmarkerConfig
    from microemo.vision.landmarker import Landmarker

    cv2.setNumThreads(1)  # one worker is one core's worth: OpenCV's own threads would fight
    try:
        landmarker = Landmarker(LandmarkerConfig.model_validate(config_data))
    except Exception as exc:  # a missing asset, a broken model: the pool reports it
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", os.getpid()))
    try:
        _serve(conn, sock, landmarker)
    finally:
        landmarker.close()


def _serve(conn: Connection, sock: socket.socket, landmarker: Any) -> None:
    maps: dict[int, mmap.mmap] = {}
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the pool's process is gone
            return
        if msg is None:
            return
        if msg[0] == "reset":
            landmarker.new_stream()
            continue
        if msg[0] == "slot":
            _, slot, size = msg
            _, fds, _, _ = socket.recv_fds(sock, 1, 1)
            maps[slot] = mmap.mmap(fds[0], size)
            os.close(fds[0])
            continue
        _, seq, slot, shape, t_ms, index, still = msg
        n = int(np.prod(shape))
        image = np.frombuffer(maps[slot], np.uint8, n).reshape(shape)
        t0 = time.monotonic()
        try:
            faces = landmarker.detect(Frame(image, t_ms, index, still=still))
        except Exception as exc:  # one bad frame: reported, the worker goes on
            conn.send(("error", seq, f"{type(exc).__name__}: {exc}"))
            continue
        ms = (time.monotonic() - t0) * 1000.0
        out = [(f.landmarks, f.blendshapes, f.pose, f.image_size) for f in faces]
        try:
            conn.send(("faces", seq, out, ms))
        except OSError:  # the pool's process is gone
            return


if __name__ == "__main__":
    main()
