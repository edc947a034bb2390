#!/bin/sh
# Install the Ceph daemons the S3 contract tests run against (mon, osd, radosgw).
# Idempotent: does nothing when they are already installed. Needs root; without
# it, says why and exits 0 so the tests skip Ceph (they fail instead when CI=true).
set -eu

PACKAGES="ceph-mon ceph-osd radosgw ceph-common"

if command -v radosgw >/dev/null 2>&1 \
    && command -v ceph-mon >/dev/null 2>&1 \
    && command -v ceph-osd >/dev/null 2>&1; then
    echo "install_ceph: Ceph already installed ($(command -v radosgw))"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install_ceph: not root, cannot apt-get install $PACKAGES;" \
         "the Ceph S3 contract tests will skip (or fail under CI=true); run 'make servers' as root" >&2
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $PACKAGES
echo "install_ceph: installed $PACKAGES"
