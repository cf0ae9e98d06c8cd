"""How ``analyze`` shows where it is: a bar per input (frames, frames a second, time left)
and one over the inputs, on a terminal only; in a pipe or a log nothing but the one line per
finished input.

The runner sees two small interfaces: ``Progress.start(name, total)`` gives an ``InputBar``
that the frame loop ``advance``s; ``Progress.done(line)`` prints an input's summary line
without tearing the bars. Several inputs may be open at once (a parallel runner starts a bar
per worker); all calls come from one thread.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import IO, Any, Protocol

# a pseudo-terminal that reports no size (`script` without a tty, some CI runners and
# editors) makes tqdm draw nothing at all: assume this one
FALLBACK_SIZE = (100, 20)


class InputBar(Protocol):
    def advance(self, frames: int = 1) -> None: ...

    def close(self) -> None: ...


class Progress(Protocol):
    def start(self, name: str, total: int | None) -> InputBar: ...

    def done(self, line: str) -> None: ...

    def close(self) -> None: ...


class _NoBar:
    def advance(self, frames: int = 1) -> None:
        return None

    def close(self) -> None:
        return None


class QuietProgress:
    """For pipes and logs: the summary lines only."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self._out = out

    def start(self, name: str, total: int | None) -> InputBar:
        return _NoBar()

    def done(self, line: str) -> None:
        print(line, file=self._out or sys.stdout, flush=True)

    def close(self) -> None:
        return None


class _TqdmBar:
    def __init__(self, bar: Any) -> None:
        self._bar = bar

    def advance(self, frames: int = 1) -> None:
        self._bar.update(frames)

    def close(self) -> None:
        self._bar.close()


class TerminalProgress:
    """tqdm bars on ``stream`` (a terminal); log records go through tqdm meanwhile, so a
    warning does not cut a bar in two."""

    def __init__(self, inputs: int, stream: IO[str], out: IO[str] | None = None) -> None:
        from tqdm import tqdm
        from tqdm.contrib.logging import logging_redirect_tqdm

        self._tqdm = tqdm
        self._stream = stream
        self._out = out
        self._sized = _has_size(stream)
        self._logs = contextlib.ExitStack()
        self._logs.enter_context(logging_redirect_tqdm())
        self._overall = (
            self._bar(total=inputs, desc="inputs", unit="input", leave=False)
            if inputs > 1
            else None
        )

    def _bar(self, **kw: Any) -> Any:
        size: dict[str, Any] = (
            {"dynamic_ncols": True}
            if self._sized
            else {"ncols": FALLBACK_SIZE[0], "nrows": FALLBACK_SIZE[1]}
        )
        return self._tqdm(file=self._stream, mininterval=0.5, **size, **kw)

    def start(self, name: str, total: int | None) -> InputBar:
        return _TqdmBar(self._bar(total=total or None, desc=name, unit="frame", leave=False))

    def done(self, line: str) -> None:
        self._tqdm.write(line, file=self._out or sys.stdout)
        (self._out or sys.stdout).flush()
        if self._overall is not None:
            self._overall.update(1)

    def close(self) -> None:
        if self._overall is not None:
            self._overall.close()
        self._logs.close()


def _has_size(stream: IO[str]) -> bool:
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return size.columns > 0 and size.lines > 0


def progress_for(inputs: int, stream: IO[str] | None = None) -> Progress:
    """Bars when ``stream`` (stderr by default) is a terminal, else the summary lines only."""
    stream = stream or sys.stderr
    if stream.isatty():
        return TerminalProgress(inputs, stream)
    return QuietProgress()
