#!/bin/sh
# Run tests under Debian 13 (trixie)'s python3.13, in a debootstrap chroot built from Debian's
# packages; the venv inside it gets its packages from PyPI. Needs root (debootstrap, chroot,
# mount). `make test-py313` calls this; it is not part of .ci/run (minutes, and root-only).
#
# Usage: sh .ci/py313.sh CHROOT_DIR PYTEST_ARG...
#   CHROOT_DIR   made with `debootstrap --variant=minbase trixie` when missing; reused after
#   PYTEST_ARG   pytest's arguments (test paths relative to the checkout, -m MARKERS, ...)
# The checkout is bind-mounted at /build/<its name> and ../shared (the protocol fixtures some
# tests read) at /build/shared, as beside the checkout; both are unmounted on exit. The venv
# gets the [dev] and [audio] extras; the audio-marked tests would need the virtual sound device too.
set -eu

[ "$#" -ge 2 ] || { echo "usage: sh $0 CHROOT_DIR PYTEST_ARG..." >&2; exit 2; }
ROOT=$1
shift
[ "$(id -u)" = 0 ] || { echo "$0: needs root (debootstrap, chroot, mount)" >&2; exit 1; }
SRC=$(cd "$(dirname "$0")/.." && pwd)
NAME=$(basename "$SRC")
SUITE=trixie
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if [ ! -x "$ROOT/usr/bin/apt-get" ]; then
    if ! command -v debootstrap >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    fi
    mkdir -p "$ROOT"
    debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1 \
        || { tail -n 20 "$ROOT.debootstrap.log" >&2; exit 1; }
fi
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# The host's local certificate authorities (a TLS-inspecting proxy's, say) are the chroot's too.
mkdir -p "$ROOT/usr/local/share/ca-certificates"
for crt in /usr/local/share/ca-certificates/*.crt; do
    if [ -f "$crt" ]; then cp "$crt" "$ROOT/usr/local/share/ca-certificates/"; fi
done

MOUNTS=""
bind() {  # bind SOURCE TARGET [ro]
    mkdir -p "$2"
    mount --bind "$1" "$2"
    MOUNTS="$2 $MOUNTS"
    if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$2"; fi
}
cleanup() {
    for m in $MOUNTS; do umount "$m" 2>/dev/null || umount -l "$m"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bind /proc "$ROOT/proc"
bind /dev "$ROOT/dev"
bind /dev/pts "$ROOT/dev/pts"  # pseudo-terminals: the status line tests paint on one
bind "$SRC" "$ROOT/build/$NAME"
if [ -d "$SRC/../shared" ]; then bind "$SRC/../shared" "$ROOT/build/shared" ro; fi

chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    CI="${CI:-}" PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_CERT=/etc/ssl/certs/ca-certificates.crt /bin/sh -euc '
    # python3.13 and venv; openssl and espeak-ng for the TLS and spoken-voice tests; Tk; PortAudio
    # and what building PyAudio for the [audio] extra takes.
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -c "import ensurepip, tkinter" 2>/dev/null \
            || ! command -v openssl >/dev/null 2>&1 || ! command -v espeak-ng >/dev/null 2>&1 \
            || [ ! -e /usr/include/portaudio.h ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            python3 python3-venv python3-tk python3-dev gcc libc6-dev libportaudio2 portaudio19-dev \
            ca-certificates openssl espeak-ng >/dev/null
    fi
    update-ca-certificates >/dev/null 2>&1
    python3 --version
    [ -x /opt/rtsync-venv/bin/python ] || python3 -m venv /opt/rtsync-venv
    /opt/rtsync-venv/bin/python -m pip install -q -e "/build/$0[dev,audio]"
    cd "/build/$0"
    exec /opt/rtsync-venv/bin/python -m pytest "$@"
' "$NAME" "$@"
