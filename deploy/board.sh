# shellcheck shell=bash
# What board this is, and a board profile run from another source: sourced by
# deploy/install.sh (and by tests/daemon/test_board_sh.py, with a made-up root folder in
# place of / : the boards themselves cannot exist in CI). Each function takes the root
# folder to look in first ("" for this machine's /).

# /proc/device-tree/model's text, "" where there is none (x86 machines, most containers)
board_model() {
    local f="${1:-}/proc/device-tree/model"
    [ -r "$f" ] && tr -d '\0' < "$f" || true
}

# Exit 0 on a Raspberry Pi: its device tree says so, or Raspberry Pi OS's /etc/rpi-issue is
# there (a Pi whose kernel shows no device tree model, e.g. in a container on the board)
is_raspberry_pi() {
    case "$(board_model "${1:-}")" in *"Raspberry Pi"*) return 0 ;; esac
    [ -f "${1:-}/etc/rpi-issue" ]
}

# Why this is not a Pi, in words: what was looked at and what it said
not_a_pi_because() {
    local model
    model="$(board_model "${1:-}")"
    if [ -n "$model" ]; then
        printf "/proc/device-tree/model says '%s', and there is no /etc/rpi-issue" "$model"
    else
        printf "no /proc/device-tree/model naming one, no /etc/rpi-issue"
    fi
}

detect_profile() {
    case "$(board_model "${1:-}")" in
        *"Raspberry Pi 5"*) echo pi5 ;;
        *"Raspberry Pi 4"*) echo pi4 ;;
        *"Orin Nano"*|*"NVIDIA Jetson"*) echo jetson-orin-nano ;;
        *) echo desktop ;;
    esac
}

# source.type for what --source names: a stream URL (the rtsp source opens rtsp:// and
# http(s):// alike), a folder of frames, a picture, else a video file
source_type() {
    case "$1" in
        rtsp://*|rtsps://*|http://*|https://*) echo rtsp ;;
        *) if [ -d "$1" ]; then echo frames; else
               case "${1,,}" in
                   *.jpg|*.jpeg|*.png|*.bmp|*.webp) echo image ;;
                   *) echo file ;;
               esac
           fi ;;
    esac
}

# The profile's text with its [source] type and path set to SRC and the camera's own keys
# (device, pipeline) left out; everything else (size, rate, retries, other sections) kept
profile_with_source() {  # PROFILE_FILE SRC
    local path="${2//\\/\\\\}"  # a TOML basic string: \ and " escaped
    path="${path//\"/\\\"}"
    # ENVIRON, not awk -v, which would read the backslashes as escapes again
    SRC_TYPE="$(source_type "$2")" SRC_PATH="$path" awk '
        function put() { printf "type = \"%s\"\npath = \"%s\"\n", ENVIRON["SRC_TYPE"], ENVIRON["SRC_PATH"] }
        /^\[/ { in_src = ($0 ~ /^\[source\][ \t]*$/) }
        in_src && /^[ \t]*(type|path|device|pipeline)[ \t]*=/ { next }
        { print }
        in_src && /^\[source\]/ { put(); done = 1 }
        END { if (!done) { print "\n[source]"; put() } }
    ' "$1"
}
