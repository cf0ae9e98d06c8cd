"""What ``microemo-train`` prints: its own progress and results, not the libraries' chatter.

TensorFlow, LiteRT and MediaPipe write log lines from C++ straight to file descriptor 2
(``W0000 ... inference_feedback_manager.cc``, ``INFO: Created TensorFlow Lite XNNPACK
delegate``), several per input and per worker process, and TensorFlow's Python loggers add
more (``tf.function retracing``), and their Python warnings; around a progress bar they
drown it. Unless ``-v`` is
given, ``divert_native`` points descriptor 2 at a log file (the extraction workers inherit
it) while Python's ``sys.stderr`` (our log lines, tqdm's bar, error messages) stays on the
terminal. The file is removed after a successful run and named after a failed one, so that
a native crash is never silent.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

logger = logging.getLogger(__name__)

CHATTY_LOGGERS = ("tensorflow", "absl", "keras", "h5py")


_restore: tuple[int, TextIO, io.TextIOWrapper] | None = None


def divert_native() -> Path:
    """Send descriptor 2 to a new log file and keep ``sys.stderr`` on the terminal, until
    ``finish`` puts both back."""
    global _restore
    fd, name = tempfile.mkstemp(prefix="microemo-train-", suffix=".log")
    sys.stderr.flush()
    terminal = os.dup(2)
    os.dup2(fd, 2)
    os.close(fd)
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    ours = io.TextIOWrapper(
        os.fdopen(os.dup(terminal), "wb", buffering=0),
        encoding=encoding,
        errors="backslashreplace",
        line_buffering=True,
        write_through=True,
    )
    _restore = (terminal, sys.stderr, ours)
    sys.stderr = ours
    for name_ in CHATTY_LOGGERS:
        logging.getLogger(name_).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(tensorflow|keras|tf_keras)(\.|$)")
    return Path(name)


def finish(native_log: Path | None, ok: bool) -> None:
    """Put descriptor 2 and ``sys.stderr`` back; drop the log file of a run that went well;
    name it after one that did not."""
    global _restore
    if native_log is None:
        return
    if _restore is not None:
        terminal, original, ours = _restore
        _restore = None
        ours.flush()
        os.dup2(terminal, 2)
        os.close(terminal)
        if sys.stderr is ours:
            sys.stderr = original
        ours.close()
    if ok or not native_log.exists() or not native_log.stat().st_size:
        native_log.unlink(missing_ok=True)
    else:
        print(f"messages of TensorFlow/MediaPipe: {native_log}", file=sys.stderr)


@contextlib.contextmanager
def chatter_to_debug(what: str) -> Iterator[None]:
    """Run a library call that prints to stdout (TensorFlow's export prints its signature);
    what it printed goes to the debug log (``-vv``) instead."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        yield
    if out.getvalue().strip():
        logger.debug("%s said:\n%s", what, out.getvalue().rstrip())
