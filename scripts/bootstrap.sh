# Idempotent set-up shared by ./run and ./test; sourced, not executed.
# Usage: bootstrap <runtime|test>
# Installs the Debian packages and the Python virtual environment that the
# given purpose needs, and does nothing (quickly) when they are present.

_vg_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

_vg_as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "voxgate: need root (or sudo) to run: $*" >&2; return 1; fi
}

_vg_debs() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "voxgate: installing Debian packages: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # tshark asks whether non-root users may capture; answer no without a prompt.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | _vg_as_root debconf-set-selections
    _vg_as_root apt-get update -qq >/dev/null
    _vg_as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

_vg_pip() {  # pip, quiet unless it fails
    local log
    log=$(mktemp)
    if ! "$_vg_root/.venv/bin/pip" install -q --disable-pip-version-check "$@" >"$log" 2>&1; then
        cat "$log" >&2; rm -f "$log"; return 1
    fi
    rm -f "$log"
}

_vg_venv() {
    local extra=$1 venv="$_vg_root/.venv" stamp
    local py=${PYTHON:-python3}
    "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
        echo "voxgate: Python 3.11 or newer is required ($py is $("$py" --version 2>&1))" >&2; return 1; }
    [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
    local hash
    hash=$(sha256sum "$_vg_root/pyproject.toml" | cut -c1-16)
    stamp="$venv/.voxgate-$extra-$hash"
    # The test set-up is a superset of the runtime one.
    [ "$extra" = runtime ] && [ -f "$venv/.voxgate-test-$hash" ] && return 0
    if [ ! -f "$stamp" ]; then
        echo "voxgate: installing Python packages ($extra)" >&2
        _vg_pip --upgrade pip
        if [ "$extra" = runtime ]; then
            _vg_pip -e "$_vg_root[accel]"
        else
            _vg_pip -e "$_vg_root[$extra,accel]"
        fi
        touch "$stamp"
    fi
}

_vg_accel() {  # compile the SIP core with mypyc when its sources changed (voxgate.accel)
    [ "${VOXGATE_PURE:-0}" != 0 ] && return 0
    local py="$_vg_root/.venv/bin/python"
    "$py" -m voxgate.accel status >/dev/null 2>&1 && return 0
    "$py" -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' ||
        _vg_debs python3-dev
    echo "voxgate: compiling the SIP core with mypyc (a minute or two, after each change)" >&2
    "$py" -m voxgate.accel build >/dev/null || true  # says why on stderr
}

bootstrap() {
    case "$1" in
        runtime) _vg_debs python3-venv openssl gcc && _vg_venv runtime && _vg_accel ;;
        test) _vg_debs python3-venv openssl gcc sip-tester tshark stunnel4 socat postgresql baresip kamailio \
            nftables sipvicious curl rtpengine-daemon chromium testssl.sh && _vg_venv test && _vg_accel ;;
        *) echo "bootstrap: unknown purpose $1" >&2; return 2 ;;
    esac
}
