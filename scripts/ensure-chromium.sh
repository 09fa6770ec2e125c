#!/usr/bin/env bash
# Make sure Debian's Chromium is installed at /usr/bin/chromium (the browser the web screen's
# acceptance tests in tests/web/ drive through Playwright). Idempotent: does nothing when it is
# already there. Needs root (or sudo) and apt the first time.
#
#   scripts/ensure-chromium.sh          # install if missing, then print the version
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    "$CHROMIUM" --version 2>/dev/null || true
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: $CHROMIUM is missing and apt-get is not available;" \
         "install Chromium so that $CHROMIUM exists" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "ensure-chromium: $CHROMIUM is missing and installing it needs root" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
# A fresh container may have no package lists yet: update when the install cannot find it.
if ! $SUDO apt-get install -y chromium; then
    $SUDO apt-get update
    $SUDO apt-get install -y chromium
fi

if [ ! -x "$CHROMIUM" ]; then
    echo "ensure-chromium: installed the chromium package but $CHROMIUM is still missing" >&2
    exit 1
fi
"$CHROMIUM" --version 2>/dev/null || true
