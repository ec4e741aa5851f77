#!/bin/sh
# Virtual sound device for the audio tests: real PortAudio callback streams on a machine
# without a sound card (Debian/Ubuntu, root or not, no /dev/snd, no kernel modules).
#
#   PortAudio (ALSA host API) -> ALSA "default" = asym {
#     capture : file plugin, infile = $VAUDIO_DIR/mic.raw     -> pulse plugin -> PulseAudio "vmic.monitor"
#     playback: file plugin, file   = $VAUDIO_DIR/speaker.raw -> pulse plugin -> PulseAudio "vspk"
#   }
#
# PulseAudio only keeps time: vmic and vspk are module-pipe-sink instances paced by the system
# clock (use_system_clock_for_timing=yes), so streams run at real-time speed and never stall,
# and nothing has to read their FIFOs. The ALSA "file" plugin supplies the exact samples:
# a capture stream reads mic.raw from its first byte at every open (raw PCM in the stream's
# own format, no header), and a playback stream writes everything it plays to speaker.raw
# (truncated at every open, including the probe that PortAudio makes in PyAudio()).
#
# What this script does, each step only when needed (running it twice is harmless):
#   1. installs the Debian packages it needs when they are missing and we are root
#      (apt-get update once, then a quiet install without recommends);
#   2. writes $VAUDIO_DIR/vaudio.pa (PulseAudio startup script) and $VAUDIO_DIR/asound.conf
#      (a complete ALSA configuration, used through ALSA_CONFIG_PATH);
#   3. starts PulseAudio as a daemon unless it is already running.
# It exits 0 when the device is up and prints the ALSA_CONFIG_PATH to use.
#
# Usage:
#   sh tests/audio/vaudio.sh            all three steps
#   sh tests/audio/vaudio.sh packages   step 1 only (e.g. under sudo, before pip builds PyAudio)
#   sh tests/audio/vaudio.sh stop       stop the daemon started by this script
#
# Environment:
#   VAUDIO_DIR    where the files and the daemon's socket live (default /tmp/rtsync-vaudio; no spaces)
#   VAUDIO_RATE   clock rate of the virtual devices (default 24000); streams at other rates work too
#   VAUDIO_NO_INSTALL=1   never call apt-get
set -eu

VAUDIO_DIR=${VAUDIO_DIR:-/tmp/rtsync-vaudio}
VAUDIO_RATE=${VAUDIO_RATE:-24000}
ACTION=${1:-all}
case $ACTION in
    all|packages|stop) ;;
    *) echo "usage: sh $0 [packages|stop]" >&2; exit 2 ;;
esac
SOCK="$VAUDIO_DIR/pulse.sock"
PIDFILE="$VAUDIO_DIR/pulse-runtime/pid"

# A killed daemon can linger as a zombie where PID 1 does not reap (containers): kill -0
# still succeeds on it, so look at its state too.
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    if [ -r "/proc/$1/status" ] && grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; then
        return 1
    fi
    return 0
}

running() {
    [ -S "$SOCK" ] && [ -f "$PIDFILE" ] && alive "$(cat "$PIDFILE")"
}

if [ "$ACTION" = stop ]; then
    if running; then
        kill "$(cat "$PIDFILE")"
        echo "vaudio: stopped"
    else
        echo "vaudio: not running"
    fi
    exit 0
fi

case $VAUDIO_DIR in
    *" "*) echo "vaudio: VAUDIO_DIR must not contain spaces: $VAUDIO_DIR" >&2; exit 2 ;;
esac

# --- 1. packages -------------------------------------------------------------------------------
# pulseaudio + libasound2-plugins: the clock and the ALSA pulse plugin; libportaudio2: PortAudio;
# portaudio19-dev python3-dev gcc libc6-dev: to build PyAudio with pip; espeak-ng sox: speech
# and sound files for the tests of the voice features.
PACKAGES="pulseaudio libasound2-plugins libportaudio2 portaudio19-dev python3-dev gcc libc6-dev espeak-ng sox"

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

if command -v dpkg-query >/dev/null 2>&1; then
    missing=""
    for p in $PACKAGES; do
        is_installed "$p" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        if [ "$(id -u)" = 0 ] && [ -z "${VAUDIO_NO_INSTALL:-}" ] && command -v apt-get >/dev/null 2>&1; then
            echo "vaudio: installing Debian packages:$missing"
            apt-get update -qq
            # shellcheck disable=SC2086  # word splitting of the package list is intended
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
        else
            echo "vaudio: missing Debian packages:$missing" >&2
            echo "vaudio: install them with: sudo apt-get install --no-install-recommends$missing" >&2
        fi
    fi
fi
[ "$ACTION" = packages ] && exit 0

command -v pulseaudio >/dev/null 2>&1 || {
    echo "vaudio: pulseaudio is not installed (apt-get install pulseaudio libasound2-plugins)" >&2; exit 1; }
found_plugin=""
for f in /usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so /usr/lib/alsa-lib/libasound_module_pcm_pulse.so; do
    [ -e "$f" ] && found_plugin=$f
done
[ -n "$found_plugin" ] || {
    echo "vaudio: the ALSA pulse plugin is not installed (apt-get install libasound2-plugins)" >&2; exit 1; }

# --- 2. configuration files --------------------------------------------------------------------
mkdir -p "$VAUDIO_DIR/pulse-runtime"
chmod 700 "$VAUDIO_DIR/pulse-runtime"

# Written to a temporary name and renamed, so a concurrent reader never sees half a file.
cat > "$VAUDIO_DIR/vaudio.pa.tmp" <<EOC
# PulseAudio startup script for rtsync's virtual sound device (loaded with -n: no default.pa).
.fail
load-module module-native-protocol-unix auth-anonymous=1 socket=$SOCK
# Two wall-clock-paced sinks. vspk receives the speaker stream; the monitor of vmic is the
# microphone (silence unless something plays into vmic).
load-module module-pipe-sink sink_name=vspk file=$VAUDIO_DIR/vspk.fifo rate=$VAUDIO_RATE format=s16le channels=1 channel_map=mono use_system_clock_for_timing=yes
load-module module-pipe-sink sink_name=vmic file=$VAUDIO_DIR/vmic.fifo rate=$VAUDIO_RATE format=s16le channels=1 channel_map=mono use_system_clock_for_timing=yes
set-default-sink vspk
set-default-source vmic.monitor
EOC
mv -f "$VAUDIO_DIR/vaudio.pa.tmp" "$VAUDIO_DIR/vaudio.pa"

cat > "$VAUDIO_DIR/asound.conf.tmp" <<EOC
# A complete ALSA configuration for rtsync's tests, used through ALSA_CONFIG_PATH. It replaces
# the system configuration (no pulse hook, no other devices), so PortAudio lists exactly one
# ALSA device, "default", which is both the default input and the default output.
pcm.!default {
    type asym
    capture.pcm {
        type file
        slave.pcm { type pulse server "unix:$SOCK" device "vmic.monitor" }
        # Raw PCM in the input stream's own format (s16le mono at the stream's rate), no header;
        # read again from its start each time a capture stream is opened.
        infile "$VAUDIO_DIR/mic.raw"
        # The file plugin requires an output file even for capture.
        file "/dev/null"
        format "raw"
    }
    playback.pcm {
        type file
        slave.pcm { type pulse server "unix:$SOCK" device "vspk" }
        # Every frame PortAudio writes; truncated whenever the playback device is opened.
        file "$VAUDIO_DIR/speaker.raw"
        format "raw"
    }
}
EOC
mv -f "$VAUDIO_DIR/asound.conf.tmp" "$VAUDIO_DIR/asound.conf"
[ -e "$VAUDIO_DIR/mic.raw" ] || : > "$VAUDIO_DIR/mic.raw"

# --- 3. the daemon -----------------------------------------------------------------------------
if running; then
    echo "vaudio: virtual audio already running (pid $(cat "$PIDFILE"))"
else
    # -D returns only once the daemon reports "startup complete", so the socket is ready.
    # As root PulseAudio warns that it is not meant to run as root; the warnings are harmless.
    # --realtime=no --high-priority=no: containers lack RLIMIT_RTPRIO. --disable-shm=yes: avoids
    # "non-registered memfd ID" floods in the log.
    PULSE_RUNTIME_PATH="$VAUDIO_DIR/pulse-runtime" pulseaudio -D -n -F "$VAUDIO_DIR/vaudio.pa" \
        --exit-idle-time=-1 --use-pid-file=yes --realtime=no --high-priority=no \
        --disable-shm=yes --log-target="file:$VAUDIO_DIR/pulseaudio.log"
    if ! running; then
        echo "vaudio: PulseAudio did not start; see $VAUDIO_DIR/pulseaudio.log" >&2
        exit 1
    fi
    echo "vaudio: virtual audio up (pid $(cat "$PIDFILE"))"
fi
echo "ALSA_CONFIG_PATH=$VAUDIO_DIR/asound.conf"
