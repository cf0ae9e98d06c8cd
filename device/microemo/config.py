"""The typed configuration: one pydantic model per section, unknown keys refused.

Every field has a default, bounds and a description, so ``microemo config check`` can say
exactly which key is wrong and what it expected. Types are strict: TOML has integers, floats,
booleans and strings, and a value of the wrong one (``port = "18830"``) is a mistake to show,
not to guess at; paths are strings. Secrets are never read from the file: see ``secrets.py``
(a password key points there). Board profiles in ``firmware_config/*.toml`` are loaded
through this model.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator

from microemo.config_au import AUConfig as AUConfig
from microemo.config_base import PathStr as PathStr
from microemo.config_base import Section as Section
from microemo.config_cabin import CabinConfig
from microemo.config_errors import ConfigError as ConfigError
from microemo.config_errors import explain, read_toml
from microemo.config_mqtt import MqttConfig as MqttConfig
from microemo.config_mqtt import SpoolConfig as SpoolConfig


class DeviceConfig(Section):
    id: str = Field(
        "microemo-1",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="device id used in MQTT topics and events",
    )
    state_dir: PathStr = Field(
        Path("/var/lib/microemo"), description="persistent state: spool, sequence numbers, models"
    )

    @field_validator("state_dir")
    @classmethod
    def _expand_home(cls, v: Path) -> Path:
        return v.expanduser()  # "~/.local/state/microemo" in the desktop profile


class SourceConfig(Section):
    type: Literal["file", "v4l2", "picamera2", "gstreamer", "rtsp", "frames", "image"] = Field(
        "file", description="which capture back-end to use"
    )
    path: str = Field("", description="file, folder of frames, image, device path or URL")
    device: int | str = Field(0, description="V4L2 index or /dev/videoN (type v4l2)")
    pipeline: str = Field("", description="GStreamer pipeline ending in appsink (type gstreamer)")
    width: int = Field(640, ge=64, le=4096, description="requested capture width")
    height: int = Field(480, ge=48, le=4096, description="requested capture height")
    fps: float = Field(30.0, gt=0, le=1000, description="requested rate; files use their own")
    realtime: bool = Field(True, description="file sources: replay at the file's frame rate")
    loop: bool = Field(False, description="file sources: start again at the end")
    retry_initial_s: float = Field(0.5, gt=0, le=60, description="first back-off after a loss")
    retry_max_s: float = Field(30.0, gt=0, le=600, description="longest back-off after a loss")
    timeout_s: float = Field(
        5.0,
        gt=0,
        le=120,
        description="a camera or stream that delivers no frames this long is lost and "
        "reopened (rtsp/http: also the open and read timeout)",
    )


class LandmarkerConfig(Section):
    model_path: PathStr | None = Field(None, description="face_landmarker.task; default: search")
    num_faces: int = Field(2, ge=1, le=10, description="most faces tracked at once")
    min_detection_confidence: float = Field(0.5, ge=0, le=1, description="face detector score")
    min_presence_confidence: float = Field(0.5, ge=0, le=1, description="face presence score")
    min_tracking_confidence: float = Field(0.5, ge=0, le=1, description="landmark tracking")
    max_width: int = Field(
        640, ge=160, le=4096, description="frames wider than this are downscaled first"
    )
    workers: int = Field(
        0,
        ge=0,
        le=64,
        description="landmarker worker processes, frames dealt to them in turn (0: one per "
        "core); the daemon's frame rate grows with them, each costs one landmarker's memory",
    )
    still_second_look: float = Field(
        0.3,
        ge=0,
        le=1,
        description="a single picture (not a video or a camera) in which no face is found is "
        "looked at once more, framed in a black border, with this detector and presence score "
        "(0: no second look, nor the turned looks after it)",
    )
    still_tilts_deg: list[Annotated[float, Field(ge=-90, le=90)]] = Field(
        [-15.0, 15.0, -30.0, 30.0],
        max_length=8,
        description="a single picture in which the second look finds no face either is looked "
        "at turned by each of these angles in turn (degrees, counter-clockwise), until one "
        "finds it: the detector misses heads tilted in the picture ([]: not)",
    )
    still_mirror_look: bool = Field(
        True,
        description="a single picture in which no look above finds a face is looked at as its "
        "mirror image, upright and at each of still_tilts_deg, and the face found put back on "
        "its own sides (false: not)",
    )
    small_faces: bool = Field(
        True,
        description="also find faces too small for the landmarker's own detector (people two "
        "or three metres away): search tiles of the full-resolution frame while fewer than "
        "num_faces faces are held, landmark each small face in its own crop",
    )
    search_interval_ms: float = Field(
        1000.0, ge=0, le=600_000, description="small faces: start a new search this often"
    )
    search_tiles_per_frame: int = Field(
        2,
        ge=0,
        le=256,
        description="small faces: tiles searched per frame, spreading a search over frames "
        "(0: the whole frame at once; the first search of a stream is always whole)",
    )
    tile_size: int = Field(
        400,
        ge=128,
        le=4096,
        description="small faces: search tile side in full-resolution pixels; the smallest "
        "face found is about a tenth of it",
    )


class TrackerConfig(Section):
    max_lost_ms: float = Field(
        5000.0, ge=0, le=600_000, description="a face gone this long gets a new id when it returns"
    )
    max_jump: float = Field(
        1.5, gt=0, le=10, description="largest move between frames, in face widths"
    )


class SpottingConfig(Section):
    on_threshold: float = Field(2.0, ge=0, le=5, description="AU intensity that starts an episode")
    off_threshold: float = Field(0.7, ge=0, le=5, description="intensity that ends it")
    max_duration_ms: float = Field(
        4000.0, ge=100, le=60_000, description="episodes are closed after this long"
    )
    smooth_ms: float = Field(
        15.0, ge=0, le=500, description="AU smoothing time constant before spotting"
    )
    baseline_window_ms: float = Field(
        600.0, ge=100, le=30_000, description="local baseline: lowest level over this long"
    )
    noise_tau_ms: float = Field(
        4000.0, ge=100, le=120_000, description="time constant of each AU's running noise level"
    )
    noise_floor: float = Field(
        0.3, ge=0.01, le=5, description="smallest noise level assumed for an AU"
    )
    noise_init: float = Field(
        0.8, ge=0.01, le=5, description="noise level assumed for a new face until measured"
    )
    noise_delay_ms: float = Field(
        300.0, ge=0, le=1000, description="noise is learned from frames this old (idle only)"
    )
    noise_prior_ms: float = Field(
        1000.0, ge=0, le=60_000, description="noise_init weighs as much as this much video"
    )
    noise_clip: float = Field(
        8.0, ge=1, le=20, description="rises above this many noise levels count as this"
    )
    noise_cap: float = Field(
        3.0, ge=0.1, le=5, description="rises are capped at this when measuring noise"
    )
    flow: bool = Field(
        True,
        description="follow brows, lids, nose, lips with optical flow (about 0.3 ms per face) "
        "and spot on that motion as well as on AU intensities",
    )
    flow_tau_ms: float = Field(
        1000.0, ge=50, le=10_000, description="optical-flow motion fades with this time constant"
    )
    flow_full: float = Field(
        0.02, gt=0, le=0.5, description="flow motion (face widths) that reads as intensity 5"
    )
    hold_enabled: bool = Field(
        True, description="also report expressions held from before they could be seen rising"
    )
    overlap: bool = Field(
        True,
        description="an episode per face region (brows, eyes, nose, mouth) and brief ones on "
        "top of a held one; false: one episode per face at a time",
    )
    hold_on: float = Field(
        4.0, ge=0, le=5, description="held expression: AU level (vs neutral) that starts one"
    )
    hold_off: float = Field(1.5, ge=0, le=5, description="held expression: level that ends it")
    hold_ms: float = Field(
        400.0, ge=0, le=10_000, description="held expression: how long the level must hold"
    )
    speech_level: float = Field(
        1.0, gt=0, le=5, description="lips (AU25) moving this much hold the speech AUs back"
    )
    speech_hold_ms: float = Field(
        1000.0, ge=0, le=5000, description="how long after the lips move the speech AUs wait"
    )
    z_on: float = Field(
        5.5, ge=0, le=50, description="a rise must be this many times its AU's noise to start"
    )
    z_off: float = Field(
        1.5, ge=0, le=50, description="an episode ends when no AU is this many times its noise"
    )
    end_fraction: float = Field(
        0.3, ge=0, lt=1, description="an episode also ends below this share of its peak"
    )
    join_ms: float = Field(
        150.0, ge=0, le=2000, description="AUs crossing this soon after the onset join the episode"
    )
    confirm_ms: float = Field(
        25.0, ge=0, le=500, description="a rise must hold this long before 'start' is sent"
    )
    apex_drop: float = Field(
        0.75, gt=0, lt=1, description="apex is sent once the level falls to this share"
    )
    apex_au_fraction: float = Field(
        0.4, ge=0, le=1, description="AUs at this share of the peak are named"
    )
    onset_fraction: float = Field(
        0.25, ge=0, le=1, description="onset: last frame under this share of on_threshold"
    )
    max_onset_lookback_ms: float = Field(
        400.0, ge=0, le=5000, description="onset is never backdated further"
    )
    warmup_ms: float = Field(
        1000.0, ge=0, le=60_000, description="no episodes while a new face's baseline forms"
    )
    max_rotation_rad_s: float = Field(
        1.5, gt=0, le=50, description="faster head rotation gates new episodes"
    )
    max_pose_change_rad: float = Field(
        0.06, gt=0, le=3, description="a rise during a larger head turn is no start"
    )
    motion_hold_ms: float = Field(
        250.0, ge=0, le=5000, description="gate kept this long after fast rotation"
    )
    blink_level: float = Field(
        2.0, ge=0, le=5, description="AU45 at which lid AUs are ignored (a blink)"
    )
    blink_hold_ms: float = Field(
        150.0, ge=0, le=2000, description="lid AUs stay ignored this long after a blink"
    )


class ModelConfig(Section):
    bundle: PathStr | None = Field(None, description="model bundle directory; default: built-in")
    appearance: str = Field("builtin", min_length=1, description='face crop model, "builtin"/"off"')
    appearance_hz: float = Field(15.0, ge=0, le=1000, description="its readings a face a second")
    public_keys: list[str] = Field(
        default_factory=list, description="trusted ed25519 public keys (base64 or PEM)"
    )
    require_signature: bool = Field(True, description="refuse bundles that are not signed")
    max_bundle_bytes: int = Field(
        4_000_000,
        ge=10_000,
        le=1_000_000_000,
        description="refuse (and stop downloading) larger bundles",
    )
    download_timeout_s: float = Field(
        30.0, gt=0, le=3600, description="connect/read timeout of a bundle download"
    )
    selftest_tolerance: float = Field(
        0.05, ge=0, le=1, description="max abs difference of self-test outputs"
    )
    max_message_age_s: float = Field(
        7 * 86400, ge=0, le=10 * 365 * 86400, description="refuse update commands issued longer ago"
    )


class OutputConfig(Section):
    jsonl: str = Field("-", description="events as JSON lines: '-' for stdout, a path, or ''")
    csv: str = Field("", description="per-frame OpenFace-style CSV path, '' for none")


class DaemonConfig(Section):
    budget_ms: float = Field(
        100.0, gt=0, le=10_000, description="time one frame may take (landmarker and the rest)"
    )
    watchdog_budgets: int = Field(
        50, ge=2, le=10_000, description="a frame loop stuck this many budgets is stalled"
    )
    status_interval_s: float = Field(
        2.0, ge=0.2, le=3600, description="seconds between systemd STATUS= updates"
    )
    log_stats_s: float = Field(
        600.0, ge=0, le=86_400, description="seconds between stats lines in the log, 0 for none"
    )


class StatusConfig(Section):
    enabled: bool = Field(False, description="serve the status page, /api/status, /metrics")
    host: str = Field(
        "127.0.0.1", min_length=1, description="listen address; beyond localhost set a password"
    )
    port: int = Field(9180, ge=1, le=65535, description="TCP port of the status page")
    username: str = Field(
        "microemo", pattern=r"^[^:]+$", description="basic-auth user (password: credentials)"
    )
    interval_s: float = Field(0.5, ge=0.1, le=60, description="seconds between page updates")
    episodes: int = Field(20, ge=1, le=500, description="last episodes the page lists")
    preview: bool = Field(
        False, description="privacy: camera with mesh on this page only; never over MQTT"
    )
    preview_fps: float = Field(2.0, gt=0, le=15, description="most preview pictures a second")


class Config(Section):
    device: DeviceConfig = Field(default_factory=DeviceConfig)
    source: SourceConfig = Field(default_factory=SourceConfig)
    landmarker: LandmarkerConfig = Field(default_factory=LandmarkerConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    au: AUConfig = Field(default_factory=AUConfig)
    spotting: SpottingConfig = Field(default_factory=SpottingConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    spool: SpoolConfig = Field(default_factory=SpoolConfig)
    daemon: DaemonConfig = Field(default_factory=DaemonConfig)
    cabin: CabinConfig = Field(default_factory=CabinConfig)
    status: StatusConfig = Field(default_factory=StatusConfig)


logger = logging.getLogger(__name__)

# Keys accepted with a warning and ignored, so that a config written for an older release
# still starts: dotted key -> why it is gone and what to use instead.
RETIRED: dict[str, str] = {
    "spotting.min_duration_ms": "nothing ever read it; spotting.confirm_ms is how long a rise "
    "must hold before an episode starts",
    "spotting.update_every_ms": "nothing ever read it; an episode sends one 'update', at its "
    "apex, and mqtt.state_interval_s sets how often a face's current reading is published",
}


def _without_retired(data: dict[str, Any], source: str) -> dict[str, Any]:
    """``data`` without the RETIRED keys, each one found named in a warning."""
    data = copy.deepcopy(data)
    for dotted, instead in RETIRED.items():
        *parents, leaf = dotted.split(".")
        node: Any = data
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf in node:
            del node[leaf]
            logger.warning("%s: %s is retired and ignored (%s): remove it", source, dotted, instead)
    return data


def parse_config(data: dict[str, Any], source: str = "<config>") -> Config:
    try:
        return Config.model_validate(_without_retired(data, source))
    except ValidationError as exc:
        raise ConfigError(explain(exc, source, Config)) from None


def load_config(path: Path | str | None, overrides: dict[str, Any] | None = None) -> Config:
    """Load a TOML file (or defaults when ``path`` is None), then apply dotted overrides."""
    data: dict[str, Any] = {} if path is None else read_toml(path)
    source = "<defaults>" if path is None else str(path)
    for dotted, value in (overrides or {}).items():
        set_dotted(data, dotted, value, source)
    return parse_config(data, source)


def set_dotted(data: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    """``data["a"]["b"] = value`` for ``dotted`` = ``a.b`` (tables made as needed); a key
    that is not a table on the way raises ``ConfigError`` naming ``source``."""
    node = data
    *parents, leaf = dotted.split(".")
    for p in parents:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{source}: {p} is not a table: cannot set {dotted}")
    node[leaf] = value
