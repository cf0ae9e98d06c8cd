"""``microemo-train evaluate``: run a finished bundle the way the device does (device
pipeline features, ``WindowBuffer`` windows, ``CnnClassifier``) on an extra labelled set,
e.g. the real CREMA-D clips, and report per clip: window probabilities averaged over the
clip, against the dataset's label and, when a CREMA-D ``labels.csv`` is given, the crowd's
face-only vote.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from microemo.model.bundle import load_bundle
from microemo.model.runner import CnnClassifier
from microemo_train import settings
from microemo_train.datasets import DataConfig, load_items
from microemo_train.extract import extract_items
from microemo_train.windows import build

logger = logging.getLogger(__name__)

CREMA_VOTES = {
    "happy": "happiness",
    "sad": "sadness",
    "angry": "anger",
    "fearful": "fear",
    "disgusted": "disgust",
}


def face_only_votes(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    with path.open(newline="") as fh:
        return {
            Path(r["file"]).name: CREMA_VOTES.get(r["face_only_vote"], r["face_only_vote"])
            for r in csv.DictReader(fh)
        }


def evaluate(cfg: settings.TrainConfig, bundle_dir: Path) -> dict[str, Any]:
    ev = cfg.evaluate
    if not ev.adapter or ev.root is None:
        raise ValueError("[evaluate] needs adapter and root")
    bundle = load_bundle(bundle_dir, require_signature=False)
    m = bundle.manifest
    items = load_items(DataConfig(adapter=ev.adapter, root=ev.root, label_map=cfg.data.label_map))
    extracted, failed = extract_items(
        items, cfg.extract.cache, cfg.extract.jobs, cfg.extract.scheduler, cfg.extract.device_config
    )
    if not extracted:
        raise RuntimeError(
            f"{ev.root}: no input could be extracted; first error: "
            f"{failed[0][0].path}: {failed[0][1]}"
            if failed
            else "no inputs"
        )
    known = [e for e in extracted if e.item.label in m.labels]
    wcfg = settings.WindowConfig(window_ms=m.window_ms, hop_ms=m.hop_ms, fps=m.fps)
    ws = build(known, list(m.labels), wcfg)
    runner = CnnClassifier(bundle)
    probs = np.array([runner.predict(w) for w in ws.x])
    votes = face_only_votes(ev.labels_csv)
    rows = []
    for k, path in enumerate(ws.paths):
        p = probs[ws.item == k].mean(0)
        name = Path(path).name
        rows.append(
            {
                "file": name,
                "intended": m.labels[int(ws.y[ws.item == k][0])],
                "face_only": votes.get(name),
                "predicted": m.labels[int(p.argmax())],
                "p_predicted": round(float(p.max()), 3),
                "windows": int((ws.item == k).sum()),
            }
        )
    out: dict[str, Any] = {
        "set": f"{ev.adapter}:{ev.root}",
        "clips": len(rows),
        "window_accuracy": float((probs.argmax(1) == ws.y).mean()),
        "clip_accuracy_intended": float(np.mean([r["intended"] == r["predicted"] for r in rows])),
        "clips_detail": rows,
        "skipped": [str(it.path) for it, _ in failed],
    }
    if votes:
        out["clip_accuracy_face_only"] = float(
            np.mean([r["face_only"] == r["predicted"] for r in rows])
        )
    return out


def run_step(cfg: settings.TrainConfig, bundle_dir: Path | None = None) -> dict[str, Any]:
    res = evaluate(cfg, bundle_dir or cfg.bundle.out)
    (cfg.workdir / "evaluation.json").write_text(json.dumps(res, indent=1))
    print(
        f"evaluation on {res['set']}: {res['clips']} clips, window accuracy "
        f"{res['window_accuracy']:.3f}, clip accuracy vs intended "
        f"{res['clip_accuracy_intended']:.3f}"
        + (
            f", vs face-only vote {res['clip_accuracy_face_only']:.3f}"
            if "clip_accuracy_face_only" in res
            else ""
        )
    )
    for r in res["clips_detail"]:
        print(
            f"  {r['file']:<24} intended {r['intended']:<10} face-only "
            f"{r['face_only'] or '-':<10} predicted {r['predicted']} ({r['p_predicted']:.2f})"
        )
    return res


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="run a bundle as the device does on a labelled set")
    settings.add_config_arg(p)
    p.add_argument("--bundle", type=Path, help="bundle directory (default: [bundle] out)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    run_step(settings.from_args(args), args.bundle)
    return 0
