"""``microemo run`` as the operator starts it (the command line, its signals, the lock, the
sinks, the spool), with ``daemon_kit.EpisodePipeline`` in place of MediaPipe: frames come
from the real clip, an episode opens every ten frames. For the tests about the daemon's
process, not about faces (a real landmarker would take a core of a 2-core machine)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from daemon_kit import EpisodePipeline

from microemo import cli
from microemo.daemon import service


def factory(config: object, *, bundle: object = None) -> EpisodePipeline:
    return EpisodePipeline()


if __name__ == "__main__":
    defaults = service.Daemon.__init__.__kwdefaults__
    assert defaults is not None
    defaults["pipeline_factory"] = factory
    sys.exit(cli.main(["run", *sys.argv[1:]]))
