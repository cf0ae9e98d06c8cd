#!/usr/bin/env bash
# Set up microemo on a fresh Raspberry Pi OS (Bookworm, 64-bit) or Debian/Ubuntu box.
#
#   sudo deploy/install.sh [--profile pi5|pi4|jetson-orin-nano|desktop] [--no-mosquitto]
#
# Run from a checkout of the repository. Idempotent: run it again to upgrade; an existing
# /etc/microemo/microemo.toml is kept. What it does:
#   1. apt packages: python3-venv, picamera2 (on a Pi), v4l-utils, mosquitto (local broker)
#   2. a system user `microemo` in the `video` group
#   3. the code in /opt/microemo/src and a venv in /opt/microemo/venv (with system site
#      packages, so the apt picamera2 / JetPack OpenCV are visible)
#   4. the face landmarker model, fetched once and checked against its pinned sha256, into
#      /var/lib/microemo/assets (the daemon never downloads anything at run time)
#   5. /etc/microemo/microemo.toml from firmware_config/<profile>.toml, checked
#   6. the systemd unit, enabled and started
set -euo pipefail

PROFILE=""
MOSQUITTO=1
PREFIX=/opt/microemo
ETC=/etc/microemo
STATE=/var/lib/microemo
SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

while [ $# -gt 0 ]; do
    case "$1" in
        --profile) PROFILE="$2"; shift 2 ;;
        --no-mosquitto) MOSQUITTO=0; shift ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root (sudo $0 $*)" >&2
    exit 1
fi

detect_profile() {
    local model=""
    [ -r /proc/device-tree/model ] && model="$(tr -d '\0' < /proc/device-tree/model)"
    case "$model" in
        *"Raspberry Pi 5"*) echo pi5 ;;
        *"Raspberry Pi 4"*) echo pi4 ;;
        *"Orin Nano"*|*"NVIDIA Jetson"*) echo jetson-orin-nano ;;
        *) echo desktop ;;
    esac
}
[ -n "$PROFILE" ] || PROFILE="$(detect_profile)"
PROFILE_FILE="$SRC_DIR/firmware_config/$PROFILE.toml"
if [ ! -f "$PROFILE_FILE" ]; then
    echo "install.sh: no profile $PROFILE_FILE (choose one of: $(ls "$SRC_DIR/firmware_config" | sed 's/\.toml//' | tr '\n' ' '))" >&2
    exit 2
fi
echo "==> microemo for profile $PROFILE"

echo "==> apt packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# python3-systemd: READY/WATCHDOG through systemd-python (the venv sees system packages)
PKGS=(python3 python3-venv python3-pip python3-systemd v4l-utils rsync ca-certificates)
case "$PROFILE" in
    pi4|pi5) PKGS+=(python3-picamera2 rpicam-apps) ;;
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
[ -d "$PREFIX/venv" ] || python3 -m venv --system-site-packages "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install -q --disable-pip-version-check --upgrade pip
# editable, so models/assets.lock.json and the default model bundle stay next to the code
"$PREFIX/venv/bin/pip" install -q --disable-pip-version-check -e "$PREFIX/src"

echo "==> model asset"
install -d -o microemo -g microemo -m 0750 "$STATE" "$STATE/assets"
"$PREFIX/venv/bin/python" -m microemo.assets fetch --dest "$STATE/assets"
chown -R microemo:microemo "$STATE"

echo "==> configuration in $ETC"
install -d -m 0755 "$ETC"
if [ ! -f "$ETC/microemo.toml" ]; then
    sed "s/^id = \".*\"/id = \"$(hostname -s | tr -c 'A-Za-z0-9_\n-' '-')\"/" "$PROFILE_FILE" \
        > "$ETC/microemo.toml"
    echo "    wrote $ETC/microemo.toml from $PROFILE (device id $(hostname -s))"
else
    echo "    keeping the existing $ETC/microemo.toml"
fi
if [ ! -f "$ETC/mqtt_password" ]; then
    install -m 0600 /dev/null "$ETC/mqtt_password"  # empty: no password; fill it in for auth
fi
"$PREFIX/venv/bin/microemo" config check "$ETC/microemo.toml"

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
systemctl restart microemo
sleep 3
systemctl --no-pager --lines=5 status microemo || true
echo "==> done: journalctl -u microemo -f; mosquitto_sub -t 'microemo/#' -v"
