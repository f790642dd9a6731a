#!/usr/bin/env bash
# Client compatibility suite: real third-party Python clients from PyPI
# (influxdb, influxdb-client, arc-tsdb-client) write to a real `strata serve`,
# and the rows are read back through SQL. See tests/compat/README.md.
#
# Usage: scripts/compat.sh [extra pytest arguments]
#
# Environment:
#   STRATA_BIN        use this strata binary instead of building one
#   STRATA_VENV       virtualenv to (re)use [default: ~/.cache/strata-venv]
#   PYTHON            interpreter that creates the virtualenv [default: python3]
#   CARGO_TARGET_DIR  cargo's target directory [default: ~/.cache/strata-target,
#                     as in scripts/test.sh, so the build cache is shared]
#
# Exits non-zero when the environment cannot be set up, the build fails or a
# test fails.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

venv="${STRATA_VENV:-$HOME/.cache/strata-venv}"
python="${PYTHON:-python3}"
requirements="tests/compat/requirements.txt"
stamp="$venv/.strata-compat-requirements.sha256"

log() { printf 'compat: %s\n' "$*" >&2; }

# --- virtualenv -------------------------------------------------------------
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    log "creating virtualenv $venv"
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    if ! "$python" -m venv "$venv"; then
        log "'$python -m venv' failed; on Debian/Ubuntu install python3-venv (apt-get install python3-venv)"
        exit 1
    fi
fi

# The stamp covers the requirements and the interpreter, so a changed pin or a
# rebuilt Python both trigger a reinstall; an unchanged venv is reused as is.
want="$( { cat "$requirements"; "$venv/bin/python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [[ "$want" != "$have" ]]; then
    log "installing $requirements into $venv"
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
    "$venv/bin/python" -m pip install --quiet --requirement "$requirements"
    printf '%s\n' "$want" >"$stamp"
else
    log "virtualenv $venv is up to date"
fi

# --- server binary ----------------------------------------------------------
if [[ -n "${STRATA_BIN:-}" ]]; then
    if [[ ! -x "$STRATA_BIN" ]]; then
        log "STRATA_BIN=$STRATA_BIN is not an executable file"
        exit 1
    fi
    log "using STRATA_BIN=$STRATA_BIN"
else
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/strata-target}"
    log "building strata (cargo build -p strata, target dir $CARGO_TARGET_DIR)"
    # Ask cargo where it put the binary rather than guessing the target dir.
    # Diagnostics go to stderr as usual; stdout carries the JSON messages.
    # pipefail makes a failed build fail this assignment.
    STRATA_BIN="$(cargo build -p strata --bin strata --message-format=json-render-diagnostics \
        | "$venv/bin/python" -c '
import json, sys
exe = ""
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") == "compiler-artifact" and msg.get("executable") \
            and msg.get("target", {}).get("name") == "strata":
        exe = msg["executable"]
print(exe)
')"
    if [[ -z "$STRATA_BIN" || ! -x "$STRATA_BIN" ]]; then
        log "cargo build did not report a strata executable"
        exit 1
    fi
    log "using $STRATA_BIN"
fi
export STRATA_BIN

# --- tests ------------------------------------------------------------------
export PYTHONDONTWRITEBYTECODE=1
# No proxy may intercept requests to the local server.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"
log "running pytest tests/compat"
exec "$venv/bin/python" -m pytest -q tests/compat "$@"
