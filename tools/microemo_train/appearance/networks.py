"""The networks an appearance model is made of: trained, fine-tuned or reused (``--keras``),
each saved in ``--work`` with a note beside it (``cnn.keras.json``: the data, faces, classes
and settings it was trained with, and what it was fine-tuned from), so a model built later
with ``--keras`` says in its manifest how the network it reused was made."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from microemo_train.appearance import train
from microemo_train.emotion_bench.inputs import BenchInputError


def _made_note(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _reused(path: Path) -> dict[str, Any]:
    """A ``--keras`` network as its manifest entry: the file, its hash and how it was made
    (the note this tool wrote beside it; ``None`` for a network from elsewhere)."""
    note = _made_note(path)
    made = json.loads(note.read_text()) if note.is_file() else None
    return {
        "path": str(path),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "made": made,
    }


def _save(model: Any, path: Path, how: dict[str, Any]) -> None:
    """Save a network in ``--work`` with its note (``_made_note``)."""
    model.save(path)
    _made_note(path).write_text(json.dumps(how, indent=1) + "\n")


def make(
    crops: np.ndarray,
    y: np.ndarray,
    classes: list[str],
    trained_on: list[str],
    args: argparse.Namespace,
    std_floor: float,
) -> tuple[Any, list[dict[str, Any]]]:
    """The CNN the device reads: ``--members`` networks (reused from ``--keras``, fine-tuned
    with ``--fine-tune``, or trained with seeds 0, 1, ...; each saved in ``--work`` with its
    note) averaged into one (``net.average``), and the ``--keras`` networks as the manifest
    names them (``_reused``), taken before anything is saved. ``crops`` and ``y``: the
    training faces and their class indices in ``classes``."""
    import keras

    from microemo_train.appearance.net import average

    for path in args.keras:
        if not path.is_file():
            raise BenchInputError(f"--keras {path}: no such file (a CNN this tool saved)")
    models = [keras.models.load_model(path) for path in args.keras]
    for path, model in zip(args.keras, models, strict=True):
        if int(model.output_shape[-1]) != len(classes):
            raise BenchInputError(
                f"--keras {path}: {model.output_shape[-1]} classes, the train part has "
                f"{len(classes)} ({', '.join(classes)}): give a network trained on it"
            )
    sources = [_reused(path) for path in args.keras]

    def how(settings: train.TrainSettings, **more: Any) -> dict[str, Any]:
        said = dataclasses.asdict(settings)
        if "fine_tuned_from" in more:
            del said["width"]  # the network's own, set when it was first trained
        return {
            "trained_on": trained_on,
            "faces": len(y),
            "classes": classes,
            "settings": said,
            **more,
        }

    for i, path in enumerate(args.keras if args.fine_tune else []):
        print(f"fine-tuning {path.name}: {args.fine_tune} epochs, degraded {args.degraded}, "
              f"glasses {args.glasses}")  # fmt: skip
        settings = train.TrainSettings(
            epochs=args.fine_tune, learning_rate=train.TrainSettings.learning_rate / 10,
            seed=i, degraded=args.degraded, glasses=args.glasses,
        )  # fmt: skip
        models[i] = train.fine_tune(models[i], crops, np.asarray(y), settings, std_floor)
        _save(
            models[i],
            args.work / f"{path.stem}-ft{args.fine_tune}.keras",
            how(settings, fine_tuned_from=sources[i]),
        )
    for seed in range(len(models), args.members):
        print(f"CNN {seed + 1} of {args.members}: {len(y)} faces of {', '.join(trained_on)} "
              f"({', '.join(classes)})")  # fmt: skip
        settings = train.TrainSettings(
            epochs=args.epochs,
            width=args.width,
            seed=seed,
            degraded=args.degraded,
            glasses=args.glasses,
        )
        models.append(train.train_cnn(crops, np.asarray(y), len(classes), settings, std_floor))
        name = "cnn.keras" if seed == 0 else f"cnn-{seed}.keras"
        _save(models[-1], args.work / name, how(settings))
    return average(models), sources


class Refit(NamedTuple):
    """``--refit``'s model: its int8 network, labels and crop as they are; how the new
    manifest names it; and what its network trained on (its ``source.cnn_trained_on``)."""

    tflite: bytes
    labels: list[str]
    crop: Any
    entry: dict[str, Any]
    trained_on: list[str]

    def sets(self) -> list[str]:
        """The data set names its network trained on (``"fer train part"`` -> ``"fer"``)."""
        return [v.removesuffix(" train part") for v in self.trained_on]


def from_model(folder: Path, args: argparse.Namespace) -> Refit:
    """``--refit``: an appearance model folder, verified by the device's own reader."""
    from microemo.model.appearance import read_appearance
    from microemo.model.bundle import BundleError

    given = {
        "--keras": bool(args.keras),
        "--members": args.members != 1,
        "--fine-tune": bool(args.fine_tune),
        "--between": bool(args.between),
        "--degraded": bool(args.degraded),
        "--glasses": bool(args.glasses),
        "--view": bool(args.view),
        "--no-mirror": not args.mirror,
    }
    clash = [option for option, used in given.items() if used]
    if clash:
        raise BenchInputError(
            f"--refit {folder} reuses that model's network and crop as they are: leave out "
            f"{clash[0]} (or train a new network without --refit)"
        )
    try:
        manifest, tflite, manifest_sha256 = read_appearance(folder)
    except BundleError as exc:
        raise BenchInputError(f"--refit: {exc}") from None
    if (args.name, args.version) == (manifest.name, manifest.version):
        raise BenchInputError(
            f"--refit {folder}: give the refitted model a --version of its own (not "
            f"{manifest.version}): dashboards tell models apart by name and version, and the "
            "network's sha256 in every event stays the same in a refit"
        )
    entry = {
        "model": str(folder),
        "name": manifest.name,
        "version": manifest.version,
        "sha256": manifest.files[manifest.model_file],
        "manifest_sha256": manifest_sha256,
        "made": manifest.source.get("cnn_training"),
    }
    trained_on = [str(v) for v in manifest.source.get("cnn_trained_on", [])]
    return Refit(tflite, list(manifest.labels), manifest.crop, entry, trained_on)
