"""What ``microemo-train all`` (and ``extract``) needs, checked before the work starts: a run
must not train for minutes and then die on a signing key that is not there.

Every problem found is reported at once, one line each, naming the ``train.toml`` key and
what to do (``CheckError``; the command line prints it without a traceback and exits 2).
"""

from __future__ import annotations

import logging
from pathlib import Path

from microemo_train.datasets import DatasetError, Item, load_items
from microemo_train.settings import BundleConfig, EvaluateConfig, TrainConfig

logger = logging.getLogger(__name__)


class CheckError(Exception):
    """The inputs of a run are not usable; one line per problem."""


def key_problems(b: BundleConfig) -> list[str]:
    if b.key is None:
        return []
    if b.key.is_file():
        from microemo_train.signing import load_private_key

        try:
            load_private_key(b.key)
        except ValueError as exc:
            return [f"[bundle] key: {exc}"]
        return []
    if b.key.exists():
        return [f"[bundle] key = {str(b.key)!r} is not a file"]
    if b.public_key is None:
        return [
            f"[bundle] key = {str(b.key)!r} does not exist: make a pair with `microemo-train "
            "keygen --out DIR --name NAME` and set [bundle] key to its .key, or also set "
            "[bundle] public_key to have a pair made on first use"
        ]
    return []  # made on first use, next to public_key (bundle.sign_with)


def evaluate_problems(ev: EvaluateConfig) -> list[str]:
    if not ev.adapter:
        return []
    if ev.root is None:
        return [f"[evaluate] adapter = {ev.adapter!r} needs [evaluate] root"]
    out = []
    if not ev.root.exists():
        out.append(f"[evaluate] root = {str(ev.root)!r} does not exist")
    if ev.labels_csv is not None and not ev.labels_csv.is_file():
        out.append(f"[evaluate] labels_csv = {str(ev.labels_csv)!r} does not exist")
    return out


def device_config_problems(path: Path | None) -> list[str]:
    """The device config extraction will use must load, and its AU calibration with it."""
    from microemo.config import ConfigError
    from microemo.vision.calibration import CalibrationError
    from microemo_train.extract import device_config

    if path is None:
        return []
    if not path.is_file():
        return [f"[extract] device_config = {str(path)!r}: no such file"]
    try:
        device_config(path)
    except (ConfigError, CalibrationError) as exc:
        return [f"[extract] device_config: {exc}"]
    return []


def preflight(cfg: TrainConfig) -> list[Item] | None:
    """Check the keys, the evaluation set and the dataset; return the dataset's items (None
    when a synthetic corpus is still to be written). Raises ``CheckError``."""
    problems = key_problems(cfg.bundle) + evaluate_problems(cfg.evaluate)
    problems += device_config_problems(cfg.extract.device_config)
    items = None
    if not cfg.synthetic.generate:
        try:
            items = load_items(cfg.data, cfg.windows.produced_labels())
        except DatasetError as exc:
            problems.append(str(exc))
    if problems:
        raise CheckError(
            f"{len(problems)} problem(s) in the inputs, nothing was run:\n  "
            + "\n  ".join(problems)
        )
    return items
