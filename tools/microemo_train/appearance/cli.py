"""``microemo-train appearance``: train the appearance model (aligned grey face crop -> core
emotion) on labelled stills, fit its fusion with the AU evidence and its calibration, and
write the folder the device reads (``model.appearance``).

    microemo-train appearance --data fer=FER2013/ --data ckplus=ckplus_dev/ --out out/appearance

Each ``--data NAME=[KIND:]PATH`` (class folders, the CK+ development layout, or a
path,label[,subject] CSV) is split into train / fusion / test parts (70/15/15 %, whole
subjects or copy groups in one part, by label; the parts are written as CSVs into
``--work``). The CNN trains on the train part of the ``--cnn`` sets (default: the first);
the fusion fits on the other parts but the test parts, every set weighted alike; a set the
CNN never saw joins the fusion with its train part too. The test parts are never fitted on:
their figures (appearance alone, AU prototypes alone, fused) are printed and kept in the
manifest with the data sets, their terms and the command. Landmarks and crops are cached in
``--work``; ``--keras FILE`` reuses a trained CNN (its classes must be the train part's);
``--members N`` trains N from other random starts and ships their average as one model.
Each network saved in ``--work`` has a note beside it (``cnn.keras.json``: the data, faces,
classes and settings it was trained with, and what it was fine-tuned from), so a model built
later with ``--keras`` says in its manifest how the network it reused was made.
``--between T[,T...]`` trains the CNN on faces morphed between each neutral -> apex pair of
its train parts too (``morph``: CK+ holds only the two ends of each expression).
``--refit MODEL`` keeps a model folder's int8 network as it is and fits only the fusion and
its calibration; ``--temperature margin`` calibrates with a temperature that follows the
margin between the top two classes (``FusionSpec.temperature_slope``).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np

from microemo_train.appearance import data, figures, train
from microemo_train.appearance.fuse import PROTO_CLASSES, FusionRows, fit_fusion
from microemo_train.appearance.options import add_arguments
from microemo_train.emotion_bench.inputs import BenchInputError

logger = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "appearance",
        help="train the appearance model and its fusion with the AUs on labelled stills",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=run)


class _Set:
    """One labelled set with its parts, extraction and readings."""

    def __init__(
        self,
        s: data.StillSet,
        work: Path,
        jobs: int,
        calibration: str | None,
        views: tuple[Any, ...],
    ) -> None:
        from microemo.vision.face_crop import CropSpec
        from microemo_train.appearance.extract import extract
        from microemo_train.appearance.readings import pair_readings, still_readings

        self.s = s
        self.part = data.split(s)
        data.write_parts(s, self.part, work / "parts")
        self.ex = extract(s, CropSpec(), work / "cache", jobs, views)
        self.labels = np.array([st.label for st in s.stills])
        self.groups = np.array(
            [f"{s.name}:{st.subject or st.group or i}" for i, st in enumerate(s.stills)]
        )
        self.au, _ = still_readings(self.ex, calibration)
        self.pairs = pair_readings(self.ex, s.pairs, calibration)


def _train_cnn(
    sets: list[_Set], cnn: list[str], args: argparse.Namespace, std_floor: float
) -> tuple[Any, list[str], list[dict[str, Any]]]:
    """The CNN the device reads (``networks.make``), trained on the train parts of the
    ``--cnn`` sets, the template's own view of each face."""
    from microemo_train.appearance.networks import make

    chosen = [st for st in sets if st.s.name in cnn]
    take = [(st, (st.part == 0) & st.ex.ok) for st in chosen]
    classes = sorted({str(v) for st, m in take for v in st.labels[m]})
    crops = np.concatenate([st.ex.crops[m, 0] for st, m in take])
    y = np.concatenate([[classes.index(v) for v in st.labels[m]] for st, m in take])
    trained_on = [f"{st.s.name} train part ({st.s.root})" for st in chosen]
    if args.between:
        from microemo_train.appearance.morph import with_between

        taken = [(st.s, st.ex, m) for st, m in take]
        crops, y, more = with_between(taken, classes, crops, y, args.between)
        trained_on += more
    model, sources = make(crops, y, classes, trained_on, args, std_floor)
    return model, classes, sources


def _rows(st: _Set, app: np.ndarray, in_cnn: bool) -> FusionRows:
    """The set's fusion rows: its stills alone (fusion part; train part too when the CNN
    never saw it) and its pairs read as a video (both stills in those parts)."""
    usable = (st.part == 1) | ((st.part == 0) & (not in_cnn))
    idx = np.flatnonzero(usable & st.ex.ok)
    app_rows, au_rows = [app[idx]], [st.au[idx]]
    trust, label, group = [np.zeros(len(idx))], [st.labels[idx]], [st.groups[idx]]
    for i, j, t_n, p_n, t_a, p_a in st.pairs:
        if usable[i] and usable[j]:
            app_rows += [app[i][None], app[j][None]]
            au_rows += [p_n[None], p_a[None]]
            trust.append(np.array([t_n, t_a]))
            label.append(np.array(["neutral", st.labels[j]]))
            group.append(st.groups[[i, j]])
    n = sum(len(t) for t in trust)
    return FusionRows(
        np.vstack(app_rows),
        np.vstack(au_rows),
        np.concatenate(trust),
        np.concatenate(label),
        np.concatenate(group),
        np.full(n, st.s.name),
    )


def _template() -> dict[str, Any]:
    from microemo.vision.face_crop import CropSpec

    spec = CropSpec()
    return {"size": spec.size, "points": list(spec.points), "template": list(spec.template)}


def run(args: argparse.Namespace) -> int:
    from microemo.emotion.fusion import Fusion
    from microemo.model.appearance import CropModel
    from microemo_train.appearance.networks import from_model
    from microemo_train.appearance.write import write_folder

    std_floor = 10.0
    sets_in = [data.load_set(spec) for spec in args.data]
    names = [s.name for s in sets_in]
    refit = from_model(args.refit, args) if args.refit else None
    cnn = args.cnn or ([n for n in refit.sets() if n in names] if refit else [names[0]])
    unknown = [c for c in cnn if c not in names]
    if unknown:
        raise BenchInputError(f"--cnn {unknown[0]}: no --data set of that name")
    for option, share in (("--degraded", args.degraded), ("--glasses", args.glasses)):
        if not 0.0 <= share <= 1.0:
            raise BenchInputError(f"{option} {share}: a share of the faces, 0 to 1")
    if args.fine_tune < 0 or (args.fine_tune and not args.keras):
        raise BenchInputError(
            f"--fine-tune {args.fine_tune}: a number of epochs for the networks given with "
            "--keras (train one first, or give --keras FILE)"
        )
    args.work.mkdir(parents=True, exist_ok=True)
    if args.parts_only:
        for s in sets_in:
            for path in data.write_parts(s, data.split(s), args.work / "parts"):
                print(f"wrote {path}")
        return 0
    if refit:
        tflite, app_labels, crop = refit.tflite, refit.labels, refit.crop
        std_floor = crop.std_floor
    else:
        crop = CropModel(**_template(), std_floor=std_floor, mirror=args.mirror, views=args.view)
    sets = [_Set(s, args.work, args.jobs, args.calibration, crop.crop_views()) for s in sets_in]
    if not refit:
        model, app_labels, sources = _train_cnn(sets, cnn, args, std_floor)
        rep = np.concatenate(
            [st.ex.crops[(st.part == 0) & st.ex.ok, 0] for st in sets if st.s.name in cnn]
        )
        rep = rep[np.random.default_rng(0).permutation(len(rep))[:500]]
        tflite = train.to_int8(model, rep, std_floor)
    metrics: dict[str, Any] = {"sets": {}}
    app_all, rows = {}, []
    for st in sets:
        lp = np.full((len(st.labels), len(app_labels)), np.nan)
        ok = st.ex.ok
        lp[ok] = train.int8_log_probs(tflite, st.ex.crops[ok], std_floor, crop.flips())
        app_all[st.s.name] = lp
        rows.append(_rows(st, app_all[st.s.name], st.s.name in cnn))
    fused_rows = FusionRows.concat(rows)
    share = {k: float(v) for k, _, v in (x.partition("=") for x in args.share)}
    fit = fit_fusion(fused_rows, app_labels, share, margin=args.temperature == "margin")
    label, from_set = fused_rows.label, fused_rows.source
    metrics.update(figures.out_of_fold(label, fit.oof, fit.classes, from_set))
    if args.temperature == "margin":  # what the slope changed, on the same rows
        one = figures.out_of_fold(label, fit.oof_one, fit.classes, from_set)
        metrics["one_temperature"] = {k.replace("fusion_", ""): v for k, v in one.items()}
    fusion = Fusion(fit.spec, app_labels)
    for st in sets:
        metrics["sets"][st.s.name] = _test_figures(st, app_all[st.s.name], app_labels, fusion)
    _print(metrics, fit.spec)
    source = {
        "data": {
            st.s.name: {
                "path": st.s.root,
                "stills": len(st.s.stills),
                "faces_found": int(st.ex.ok.sum()),
                "licence": st.s.licence,
            }
            for st in sets
        },
        # a refit's network is the model's: what it trained on, whatever --cnn kept out
        "cnn_trained_on": refit.trained_on if refit else [f"{c} train part" for c in cnn],
        "cnn_training": {"refit_from": refit.entry}
        if refit
        else {
            "reused": sources,
            "fine_tune_epochs": args.fine_tune,
            "degraded_share": args.degraded,
            "glasses_share": args.glasses,
            "between_intensities": list(args.between),
        },
        "calibration": args.calibration or "built-in",
        "command": "microemo-train " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "licence": args.licence
        or "research use only: trained on data sets whose terms allow non-commercial research only",
    }
    path = write_folder(
        args.out,
        tflite,
        app_labels,
        fit.spec,
        metrics,
        source,
        args.name,
        args.version,
        crop,
    )
    print(f"wrote {path} ({len(tflite) // 1024} KB model)")
    (args.work / "figures.json").write_text(json.dumps(metrics, indent=1) + "\n")
    return 0


def _test_figures(st: _Set, app: np.ndarray, app_labels: list[str], fusion: Any) -> dict:
    """The set's test part: appearance alone, prototypes alone, fused (trust 0: stills)."""
    test = st.part == 2
    lab, ok = st.labels[test], st.ex.ok[test]
    app_p = np.nan_to_num(np.exp(app[test]))
    au_p = np.nan_to_num(st.au[test])
    fused = np.zeros((int(test.sum()), len(fusion.classes)))
    for k, i in enumerate(np.flatnonzero(test)):
        if st.ex.ok[i]:
            out = fusion(app[i], dict(zip(PROTO_CLASSES, st.au[i])), 0.0)
            fused[k] = [out.get(c, 0.0) for c in fusion.classes]
    return {
        "appearance": figures.summary(lab, app_p, app_labels, ok),
        "prototypes": figures.summary(lab, au_p, list(PROTO_CLASSES), ok),
        "fused": figures.summary(lab, fused, fusion.classes, ok),
    }


def _print(metrics: dict[str, Any], spec: Any) -> None:
    print(figures.line("fusion, out of fold", metrics["fusion_out_of_fold"]))
    for name, fig in metrics["fusion_out_of_fold_by_set"].items():
        print(figures.line(f"  {name} fusion rows, out of fold", fig))
    if "one_temperature" in metrics:
        one = metrics["one_temperature"]
        print(figures.line("the same, one temperature", one["out_of_fold"]))
        for name, fig in one["out_of_fold_by_set"].items():
            print(figures.line(f"  {name} fusion rows, one temperature", fig))
    for name, f in metrics["sets"].items():
        for kind, fig in f.items():
            print(figures.line(f"{name} test, {kind}", fig))
    slope = f", slope {spec.temperature_slope} a unit of margin" if spec.temperature_slope else ""
    print(f"temperature {spec.temperature}{slope}")
