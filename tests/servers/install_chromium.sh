#!/bin/sh
# Install Debian's Chromium (and fonts with Vietnamese glyphs) for the browser tests (tests/browser):
# Playwright drives this binary (executable_path=shutil.which("chromium")); it never downloads one.
# Idempotent: does nothing when chromium is already installed. Needs root; without it, says why and
# exits 0 so the browser tests skip (they fail instead when CI=true).
set -eu

PACKAGES="chromium fonts-dejavu-core fonts-liberation"

if command -v chromium >/dev/null 2>&1; then
    echo "install_chromium: Chromium already installed ($(command -v chromium))"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install_chromium: not root, cannot apt-get install $PACKAGES;" \
         "the browser tests will skip (or fail under CI=true); run 'make servers' as root" >&2
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $PACKAGES
echo "install_chromium: installed $PACKAGES ($(chromium --version 2>/dev/null || echo 'version unknown'))"
