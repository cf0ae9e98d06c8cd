"""The AU calibration file: which signals feed each AU, with what weights, where presence
starts, and where it came from.

Written by ``microemo-train facs-calibrate`` from FACS-coded faces (its ``[provenance]``
names the data set, subjects, date, command and the cross-validated figures), read here by
the device. ``au.calibration`` in the config points to another file; the built-in one is
``vision/au_calibration.toml``. A file that does not fit this runtime (unknown signal
names, wrong lengths, a missing AU) is refused with the key that is wrong.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from microemo.types import AU_NAMES, BLENDSHAPE_NAMES
from microemo.vision.geometry import GEOMETRY_NAMES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FORMAT = 1
# Face regions: a signal belongs to the region it measures, an AU to the region it moves.
# Baselines form per region, so brows at rest teach the brows' neutral while the mouth smiles.
REGIONS: tuple[str, ...] = ("brows", "eyes", "nose", "mouth")
_REGION_OF_AU = {1: 0, 2: 0, 4: 0, 5: 1, 6: 1, 7: 1, 45: 1, 9: 2}  # every other AU: mouth
_REGION_PREFIXES = (
    (0, ("bs_brow", "g_brow")),
    (1, ("bs_eye", "bs_cheekSquint", "g_eye", "g_lower_lid", "g_cheek")),
    (2, ("bs_noseSneer", "g_nose")),
)
# The evidence -> intensity curve is a Cauchy CDF: 1.0 of 5 at the presence threshold and
# heavy tails, so intensities keep their order far out (two decimals rarely tie at 0 or 5).
_AT_THRESHOLD = float(np.tan(np.pi * (0.2 - 0.5)))  # the curve's argument where it reads 1.0
SIGNAL_NAMES: tuple[str, ...] = tuple(f"bs_{n}" for n in BLENDSHAPE_NAMES) + GEOMETRY_NAMES
BUILTIN = "au_calibration.toml"


def signal_regions(names: tuple[str, ...]) -> np.ndarray:
    """The region index of each signal (mouth unless a prefix says otherwise)."""
    out = np.full(len(names), REGIONS.index("mouth"), np.int64)
    for i, name in enumerate(names):
        for region, prefixes in _REGION_PREFIXES:
            if name.startswith(prefixes):
                out[i] = region
    return out


AU_REGION = np.array([_REGION_OF_AU.get(int(a[2:]), REGIONS.index("mouth")) for a in AU_NAMES])
SIGNAL_REGION = signal_regions(SIGNAL_NAMES)


class CalibrationError(ValueError):
    """A calibration file the device cannot use; the message names the file and key."""


@dataclass(frozen=True, eq=False)
class AUCalibration:
    signals: tuple[str, ...]
    w_abs: np.ndarray  # (n_au, n_signals)
    b_abs: np.ndarray  # (n_au,)
    w_rel: np.ndarray  # (n_au, n_signals) over s - baseline
    b_rel: np.ndarray  # (n_au,)
    threshold: np.ndarray  # (n_au,) evidence at which the AU is present (intensity 1.0)
    scale: np.ndarray  # (n_au,) evidence per intensity point
    prior: np.ndarray  # (n_signals,) population neutral
    band: np.ndarray  # (n_signals,) how far a person's own neutral may sit from the prior
    trust_k: float  # baseline trust r = n / (n + trust_k) ...
    trust_after: int  # ... once it has this many samples
    gate: np.ndarray  # (n_au,) bool: AUs whose presence keeps a frame out of the baseline
    gate_evidence: np.ndarray  # (n_au,) a frame joins the baseline when no gated AU's absolute
    # evidence reaches its value here (fitted so that most neutral faces of the data pass)
    names: dict[str, str]  # AU -> FACS name
    provenance: dict[str, Any]
    figures: dict[str, dict[str, Any]]  # AU -> cross-validated figures
    path: str = ""

    @property
    def n_signals(self) -> int:
        return len(self.signals)

    def trust(self, samples: np.ndarray) -> np.ndarray:
        """Per AU, how far its region's baseline is trusted: nothing below ``trust_after``
        samples (a few frames of a face first seen mid-expression are no neutral), then
        ``n / (n + trust_k)``. ``samples``: neutral samples per region."""
        n = np.asarray(samples, np.float64)[AU_REGION]
        return np.where(n >= self.trust_after, n / (n + self.trust_k), 0.0)

    def absolute(self, s: np.ndarray) -> np.ndarray:
        return self.w_abs @ s + self.b_abs

    def relative(self, s: np.ndarray, baseline: np.ndarray) -> np.ndarray:
        return self.w_rel @ (s - baseline) + self.b_rel

    def evidence(
        self,
        s: np.ndarray,
        baseline: np.ndarray,
        samples: np.ndarray,
        z_abs: np.ndarray | None = None,
        trust: np.ndarray | None = None,
    ) -> np.ndarray:
        """Both heads mixed, per AU, by how much neutral its region has shown (``trust``, when
        the caller has it already: ``self.trust(samples)``)."""
        z_abs = self.absolute(s) if z_abs is None else z_abs
        r = self.trust(samples) if trust is None else trust
        if not r.any():
            return z_abs
        return (1.0 - r) * z_abs + r * self.relative(s, baseline)

    def intensity(self, z: np.ndarray) -> np.ndarray:
        """Evidence to 0-5: ``5 * (1/2 + atan((z - threshold) / scale + c) / pi)`` with ``c``
        putting the presence threshold at 1.0; one ``scale`` above it reads 2.9."""
        x = (z - self.threshold) / self.scale + _AT_THRESHOLD
        return 5.0 * (0.5 + np.arctan(x) / np.pi)

    def neutral_regions(self, z_abs: np.ndarray) -> np.ndarray:
        """Per region: no gated AU of it (all but speech and blinks) visible to the
        absolute head."""
        visible = (z_abs >= self.gate_evidence) & self.gate
        return ~np.bincount(AU_REGION, weights=visible, minlength=len(REGIONS)).astype(bool)


def _vector(data: dict[str, Any], key: str, n: int, where: str) -> np.ndarray:
    value = data.get(key)
    if not isinstance(value, list) or len(value) != n:
        got = f"{len(value)} values" if isinstance(value, list) else repr(type(value).__name__)
        raise CalibrationError(f"{where}: {key} must be a list of {n} numbers (got {got})")
    return np.asarray(value, np.float64)


def versioned_toml(
    text: str, source: str, fmt: int, writer: str, error: type[ValueError]
) -> dict[str, Any]:
    """A table file's contents, refused with ``error`` (naming ``source``) when it is no TOML
    or of another ``format`` than ``fmt`` (then: re-run ``writer``, the command that wrote it)."""
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{source}: not valid TOML ({exc})") from None
    if d.get("format") != fmt:
        raise error(
            f"{source}: format = {d.get('format')!r}, this runtime reads format {fmt}; "
            f"re-run {writer}"
        )
    return d


def parse_calibration(text: str, source: str = "<calibration>") -> AUCalibration:
    d = versioned_toml(text, source, FORMAT, "microemo-train facs-calibrate", CalibrationError)
    signals = tuple(d.get("signals", ()))
    if signals != SIGNAL_NAMES:
        unknown = [s for s in signals if s not in SIGNAL_NAMES][:3]
        raise CalibrationError(
            f"{source}: signals do not match this runtime's "
            f"({len(signals)} vs {len(SIGNAL_NAMES)}; unknown: {unknown}); "
            "re-run microemo-train facs-calibrate"
        )
    n = len(signals)
    aus = d.get("AU", {})
    missing = [au for au in AU_NAMES if au not in aus]
    if missing:
        raise CalibrationError(f"{source}: no [AU.{missing[0]}] section")
    rows = [aus[au] for au in AU_NAMES]
    where = [f"{source} [AU.{au}]" for au in AU_NAMES]
    base = d.get("baseline", {})
    gate_ignore = set(base.get("gate_ignore", []))
    return AUCalibration(
        signals=signals,
        w_abs=np.stack([_vector(r, "abs", n, w) for r, w in zip(rows, where)]),
        b_abs=np.array([float(r.get("abs_bias", 0.0)) for r in rows]),
        w_rel=np.stack([_vector(r, "rel", n, w) for r, w in zip(rows, where)]),
        b_rel=np.array([float(r.get("rel_bias", 0.0)) for r in rows]),
        threshold=np.array([float(r.get("threshold", 0.0)) for r in rows]),
        scale=np.array([max(float(r.get("scale", 1.0)), 1e-6) for r in rows]),
        prior=_vector(base, "prior", n, f"{source} [baseline]").astype(np.float32),
        band=_vector(base, "band", n, f"{source} [baseline]").astype(np.float32),
        trust_k=float(base.get("trust_k", 4.0)),
        trust_after=int(base.get("trust_after", 1)),
        gate=np.array([au not in gate_ignore for au in AU_NAMES]),
        gate_evidence=_gate(base, len(AU_NAMES), f"{source} [baseline]"),
        names={au: str(aus[au].get("name", au)) for au in AU_NAMES},
        provenance=dict(d.get("provenance", {})),
        figures={au: dict(aus[au].get("cv", {})) for au in AU_NAMES},
        path=source,
    )


def _gate(base: dict[str, Any], n: int, where: str) -> np.ndarray:
    """One gate per AU (a single number is every AU's)."""
    value = base.get("gate_evidence", 0.0)
    if isinstance(value, (int, float)):
        return np.full(n, float(value))
    return _vector(base, "gate_evidence", n, where)


def calibration_text(path: Path | str | None) -> tuple[str, str]:
    """The calibration file's text and a name for messages: the built-in one when ``path`` is
    None. Raises ``CalibrationError`` naming the file when it cannot be read."""
    if path is None:
        text = resources.files("microemo.vision").joinpath(BUILTIN).read_text()
        return text, f"microemo/vision/{BUILTIN}"
    p = Path(path).expanduser()
    try:
        return p.read_text(encoding="utf-8"), str(p)
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrationError(
            f"au.calibration = {str(path)!r}: cannot read it ({exc}); point au.calibration at a "
            "file written by microemo-train facs-calibrate, or leave it unset"
        ) from None


def calibration_digest(path: Path | str | None) -> str:
    """sha256 of the calibration file's text (the built-in one when ``path`` is None): what a
    model bundle records about the AU features it was trained on."""
    return hashlib.sha256(calibration_text(path)[0].encode()).hexdigest()


@lru_cache(maxsize=4)
def _load(path: str | None) -> AUCalibration:
    text, source = calibration_text(path)
    return parse_calibration(text, source)


def load_calibration(path: Path | str | None = None) -> AUCalibration:
    """The built-in calibration, or the file at ``path`` (cached per path)."""
    return _load(None if path is None else str(Path(path).expanduser()))
