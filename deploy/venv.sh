#!/usr/bin/env bash
# Create or update a venv holding microemo (editable, from this checkout) and exactly one OpenCV.
#
#   deploy/venv.sh VENV [--extras train,dev] [--system-site-packages] [--constraint FILE]
#
# Used by `make setup` (.venv) and deploy/install.sh (/opt/microemo/venv); CI goes through make.
#
# Why a script: MediaPipe's wheel requires opencv-contrib-python, the desktop OpenCV build, and
# microemo needs opencv-python-headless. Both put their files in site-packages/cv2: with both
# installed the last one wins (the desktop build wants Qt, X11 and OpenGL libraries a board
# does not have) and uninstalling either breaks cv2. deploy/opencv-stub is a distribution
# named opencv-contrib-python that holds no files and requires the headless build instead
# (nothing on a Jetson, whose JetPack OpenCV with GStreamer the venv sees through
# --system-site-packages). Installed in the same pip run as microemo it satisfies MediaPipe's
# requirement, so pip never fetches the desktop build, `pip check` is clean and a later
# `pip install -e .` keeps it. A venv that already holds another OpenCV distribution (made by
# an older version of this script, or by hand) is made anew rather than patched.
#
# On aarch64 MediaPipe is pinned to the newest release proven to run on this CPU: the pip
# constraints file in deploy/constraints/ that `python -I device/microemo/platform.py
# --constraints` names (1.x where the CPU has ARMv8.2's extensions, as a Pi 5 does; 0.10 on
# an ARMv8.0 CPU such as the Pi 4's). The file says why and what proved it (docs/arm64.md).
#
# Re-running is cheap: nothing is installed when pyproject.toml, the stub and the constraints
# are unchanged and the venv already has the extras asked for.
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV=""
EXTRAS=""
VENV_ARGS=()
PIP_ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --extras) EXTRAS="$2"; shift 2 ;;
        --system-site-packages) VENV_ARGS+=(--system-site-packages); shift ;;
        --constraint) PIP_ARGS+=(--constraint "$2"); shift 2 ;;
        -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
        -*) echo "venv.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) VENV="$1"; shift ;;
    esac
done
[ -n "$VENV" ] || { echo "venv.sh: which venv? (see --help)" >&2; exit 2; }
# JetPack's OpenCV lives in the system's site-packages (and the stub requires none on Tegra)
case "$(uname -r)" in *tegra*) VENV_ARGS+=(--system-site-packages) ;; esac
# -I: the script's own folder (device/microemo, whose platform.py and types.py would shadow
# the standard library's) stays off sys.path
pin="$("$PYTHON" -I "$SRC/device/microemo/platform.py" --constraints)"
[ -z "$pin" ] || PIP_ARGS+=(--constraint "$pin")

STAMP="$VENV/.microemo-installed"
inputs=("$SRC/pyproject.toml" "$SRC/deploy/opencv-stub/pyproject.toml")
for ((i = 1; i < ${#PIP_ARGS[@]}; i += 2)); do inputs+=("${PIP_ARGS[i]}"); done
digest="$(cat "${inputs[@]}" | sha256sum | cut -c1-16) ${VENV_ARGS[*]:-isolated}"

up_to_date() {
    [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] || return 1
    [ "$(sed -n 1p "$STAMP")" = "$digest" ] && [ -z "$(foreign_opencv)" ] || return 1
    local have extra
    have=",$(sed -n 2p "$STAMP"),"
    for extra in ${EXTRAS//,/ }; do
        case "$have" in *",$extra,"*) ;; *) return 1 ;; esac
    done
}

# OpenCV distributions in the venv itself other than the headless build and the stub (their
# metadata folders: cheap enough to look at on every `make`)
foreign_opencv() {
    local site
    for site in "$VENV"/lib/python3*/site-packages; do
        [ -d "$site" ] && ls "$site"
    done | grep -iE '^opencv_(contrib_)?python(_headless)?-.*\.dist-info$' \
        | grep -viE '^opencv_python_headless-|^opencv_contrib_python-0\+microemo' || true
}

if up_to_date; then
    exit 0
fi
if [ -x "$VENV/bin/python" ]; then
    other="$(foreign_opencv)"
    if [ -n "$other" ]; then
        echo "venv.sh: $VENV holds $(echo "$other" | tr '\n' ' ')beside microemo's OpenCV: making it anew"
        rm -rf "$VENV"
    fi
fi
# a venv made with other --system-site-packages settings is kept: `venv` updates pyvenv.cfg
"$PYTHON" -m venv "${VENV_ARGS[@]}" "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
all_extras="$( (sed -n 2p "$STAMP" 2>/dev/null; echo "$EXTRAS") | tr ',' '\n' | sed '/^$/d' | sort -u | paste -sd, -)"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PIP_ARGS[@]}" \
    -e "$SRC${all_extras:+[$all_extras]}" "$SRC/deploy/opencv-stub"
# says which cv2 the venv imports; fails (with what to do) on a broken mix
"$VENV/bin/python" -m microemo.platform
printf '%s\n%s\n' "$digest" "$all_extras" > "$STAMP"
