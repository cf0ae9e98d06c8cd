"""``microemo-train all --config train.toml``: every step in order.

First its inputs are checked (``checks.preflight``: the signing key, the evaluation set, the
dataset), so that a missing key or folder stops it at once rather than after training. With
``[synthetic] generate = true`` a synthetic corpus (the default model's) is written at
``[data] root`` first; an ``[evaluate]`` set is run on the finished bundle and its figures
go into the manifest before it is signed."""

from __future__ import annotations

import argparse
import logging

from microemo_train import bundle, checks, evaluate, extract, fit, quantize, select, settings

logger = logging.getLogger(__name__)


def run_all(cfg: settings.TrainConfig) -> None:
    items = checks.preflight(cfg)
    syn = cfg.synthetic
    if syn.generate:
        from microemo_train.synth_corpus import write_corpus

        root = cfg.data.root.parent if cfg.data.root.suffix else cfg.data.root
        write_corpus(root, syn.subjects, syn.clips_per_label, syn.seed)
    cfg.workdir.mkdir(parents=True, exist_ok=True)
    (cfg.workdir / "windows.npz").unlink(missing_ok=True)  # rebuilt from this extraction
    for name in ("evaluation.json", "parity.json", "metrics.json"):
        (cfg.workdir / name).unlink(missing_ok=True)
    extract.run_step(cfg, items)
    select.run_step(cfg)
    fit.run_step(cfg)
    quantize.run_step(cfg)
    if cfg.evaluate.adapter:
        bundle.write_bundle(cfg, sign=False)
        evaluate.run_step(cfg)
    bundle.write_bundle(cfg)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("all", help="extract, select, fit, quantize, (evaluate,) bundle")
    settings.add_config_arg(p)
    settings.add_missing_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    run_all(settings.from_args(args))
    return 0
