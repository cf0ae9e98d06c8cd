"""The training configuration (``train.toml``): one typed section per step, unknown keys
refused, every field with a default. Each subcommand reads the same file, so
``microemo-train fit --config X`` and ``microemo-train all --config X`` agree."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(Section):
    adapter: Literal["crema-d", "casme2", "samm", "generic", "manifest", "features"] = Field(
        "generic", description="dataset layout; 'features' reads a synth-corpus index.csv"
    )
    root: Path = Field(Path("data"), description="dataset folder (or manifest CSV)")
    sheet: Path | None = Field(None, description="coding sheet (CASME II / SAMM), xlsx or csv")
    labels: list[str] = Field(
        default_factory=list, description="labels in model order; empty: sorted labels found"
    )
    label_map: dict[str, str] = Field(
        default_factory=dict, description="dataset label -> model label ('' drops)"
    )
    fps: float | None = Field(None, gt=0, description="frame rate of frame folders / stills")
    missing: Literal["stop", "skip"] = Field(
        "stop",
        description="sheet or manifest rows whose input does not exist: 'stop' naming them "
        "all, or 'skip' them (counted)",
    )
    name: str = Field("", description="the data set as cited (goes into the bundle's source)")
    licence: str = Field("", description="the data's terms of use (goes into the bundle's source)")


class SynthConfig(Section):
    generate: bool = Field(False, description="write a synth-corpus at [data] root first")
    subjects: int = Field(24, ge=2, le=10_000)
    clips_per_label: int = Field(6, ge=1, le=1000)
    seed: int = 0


class ExtractConfig(Section):
    cache: Path = Field(Path(".cache/microemo-train"), description="per-input feature cache")
    jobs: int = Field(2, ge=1, le=256, description="parallel worker processes")
    scheduler: str = Field("", description="Dask scheduler address; '' for local processes")
    device_config: Path | None = Field(
        None,
        description="the devices' config file (microemo.toml): extraction reads faces with its "
        "[landmarker], [tracker] and [au] settings (e.g. your own au.calibration), so the model "
        "learns the features the devices compute; default: the device's defaults",
    )


class WindowConfig(Section):
    window_ms: float = Field(1000.0, gt=0, le=10_000)
    hop_ms: float = Field(250.0, gt=0, le=10_000)
    fps: float = Field(
        30.0,
        gt=0,
        le=1000,
        description="rate windows are resampled to (window_ms * fps / 1000 frames; "
        "1 frame: a frame-level model)",
    )
    label: Literal["input", "expressive"] = Field(
        "input",
        description="'input': every window carries its input's label (clip-level labels, "
        "CREMA-D); 'expressive': only windows ending on a frame that shows the expression "
        "(neutral->apex sequences), the others get rest_label",
    )
    rest_label: str = Field(
        "neutral",
        description="label of windows before the expression (label = 'expressive'); "
        "'' leaves them out",
    )
    expressive_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="a frame shows the expression when its blendshapes have moved this share "
        "of the input's largest movement away from its first 100 ms",
    )

    def produced_labels(self) -> tuple[str, ...]:
        """Labels windows get that no input carries (the rest before an expression)."""
        return (self.rest_label,) if self.label == "expressive" and self.rest_label else ()


class SelectConfig(Section):
    n_features: int = Field(8, ge=1, le=512, description="features ReliefF keeps")
    n_neighbors: int = Field(50, ge=1, le=1000, description="ReliefF neighbours (k)")
    candidates: list[str] = Field(
        default_factory=lambda: ["AU"], description="feature name prefixes ReliefF may choose from"
    )
    max_samples: int = Field(
        2000, ge=50, le=50_000, description="windows ReliefF scores (its cost is quadratic)"
    )


class FitConfig(Section):
    epochs: int = Field(30, ge=1, le=1000)
    batch_size: int = Field(64, ge=1, le=4096)
    filters: int = Field(16, ge=2, le=256, description="Conv1D filters per layer")
    folds: int = Field(
        5, ge=0, le=1000, description="GroupKFold by subject; 0 = leave one subject out"
    )
    holdout: float = Field(
        0.15, ge=0, lt=0.9, description="share of subjects the shipped model never sees (parity)"
    )
    seed: int = 0
    fusion_weight: float | Literal["fit", "none"] = Field(
        "fit",
        description="the bundle's fusion_weight (how far the device trusts the CNN against "
        "the fitted FACS prototypes): 'fit' = the mix that scores best on held-out subjects, "
        "a number 0-1 as given, 'none' = leave it to the device's rule table",
    )

    @field_validator("fusion_weight")
    @classmethod
    def _weight_range(cls, v: float | str) -> float | str:
        if isinstance(v, float) and not 0.0 <= v <= 1.0:
            raise ValueError(f"fusion_weight {v} is not between 0 and 1 (or 'fit', 'none')")
        return v


class QuantizeConfig(Section):
    representative: int = Field(300, ge=1, le=100_000, description="calibration windows")


class BundleConfig(Section):
    out: Path = Field(Path("out/bundle"), description="bundle directory written")
    name: str = Field("microemo-core", min_length=1, max_length=64)
    version: str = "0.1.0"
    key: Path | None = Field(None, description="ed25519 private key; None leaves it unsigned")
    public_key: Path | None = Field(
        None,
        description="where a key made on first use puts "
        "its public half (generated only when both are absent)",
    )
    selftest_windows: int = Field(4, ge=1, le=64)


class EvaluateConfig(Section):
    adapter: str = Field("", description="adapter of an extra evaluation set ('' = none)")
    root: Path | None = None
    labels_csv: Path | None = Field(
        None,
        description="CREMA-D style labels.csv with intended_emotion and face_only_vote columns",
    )


class TrainConfig(Section):
    workdir: Path = Field(Path("out/train"), description="intermediate files of each step")
    data: DataConfig = Field(default_factory=DataConfig)
    synthetic: SynthConfig = Field(default_factory=SynthConfig)
    extract: ExtractConfig = Field(default_factory=ExtractConfig)
    windows: WindowConfig = Field(default_factory=WindowConfig)
    select: SelectConfig = Field(default_factory=SelectConfig)
    fit: FitConfig = Field(default_factory=FitConfig)
    quantize: QuantizeConfig = Field(default_factory=QuantizeConfig)
    bundle: BundleConfig = Field(default_factory=BundleConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)

    @model_validator(mode="after")
    def _rest_label_is_a_label(self) -> TrainConfig:
        # checked here, not after an hour of extraction
        rest = self.windows.produced_labels()
        if rest and self.data.labels and rest[0] not in self.data.labels:
            raise ValueError(
                f"windows.rest_label {rest[0]!r} is not in data.labels {self.data.labels}: "
                "add it there, or set windows.rest_label = '' to leave those windows out"
            )
        return self


class TrainConfigError(Exception):
    pass


def load(path: Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Read ``train.toml``, then ``--set KEY=VALUE`` overrides (dotted keys, TOML values or
    plain strings: ``--set data.root=/data/ck``); relative paths are taken from the current
    directory."""
    where = str(path) if path is not None else "<defaults>"
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except OSError as exc:
            raise TrainConfigError(f"{path}: cannot read ({exc.strerror})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise TrainConfigError(f"{path}: not valid TOML: {exc}") from exc
    for item in overrides or []:
        apply_override(data, item, where)
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        msgs = [
            ".".join(str(p) for p in e["loc"])
            + ": " * bool(e["loc"])
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        ]
        raise TrainConfigError(f"{where}: " + "; ".join(msgs)) from exc


def apply_override(data: dict[str, Any], item: str, where: str) -> None:
    from microemo.config import ConfigError, set_dotted
    from microemo.daemon.cli import parse_value

    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise TrainConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set data.root=/data/ck")
    try:
        set_dotted(data, key.strip(), parse_value(value.strip()), where)
    except ConfigError as exc:
        raise TrainConfigError(str(exc)) from None


def add_missing_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--skip-missing",
        action="store_true",
        help="skip dataset rows whose input does not exist ([data] missing = 'skip')",
    )


def add_config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="train.toml (see models/train-default.toml)")
    parser.add_argument("--workdir", type=Path, help="override [workdir]")
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        dest="overrides",
        help="override a key of the config, e.g. --set data.root=/data/ck (repeatable)",
    )


def from_args(args: argparse.Namespace) -> TrainConfig:
    cfg = load(args.config, getattr(args, "overrides", None))
    if getattr(args, "workdir", None):
        cfg.workdir = args.workdir
    if getattr(args, "skip_missing", False):
        cfg.data.missing = "skip"
    return cfg
