#!/usr/bin/env bash
# Fetch and unpack a Debian source package into DEST (patches applied).
# Used at configure time so no third-party source is ever committed.
# usage: fetch-deb-source.sh PACKAGE DEST
set -euo pipefail
pkg=$1 dest=$2
mkdir -p "$dest"
cd "$dest"
if ls -d "$pkg"-*/ >/dev/null 2>&1; then exit 0; fi
if ! command -v dpkg-source >/dev/null; then
  echo "fetch-deb-source: dpkg-source missing; run tools/setup.sh" >&2; exit 1
fi
if ! apt-get source -qq "$pkg" >/dev/null 2>fetch.log; then
  # The deb-src index may be missing on a machine set up by hand.
  echo "fetch-deb-source: apt-get source $pkg failed; run tools/setup.sh (adds deb-src)" >&2
  cat fetch.log >&2; exit 1
fi
ls -d "$pkg"-*/ >/dev/null
