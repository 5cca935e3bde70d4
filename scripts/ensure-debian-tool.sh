#!/usr/bin/env bash
# Makes sure a tool the tests drive is installed: Debian's headless-capable Chromium (the portal's browser tests,
# through playwright-core, which downloads no browser of its own) and nginx (the verify API's gateway test).
# Installs what is missing with apt when we are root; otherwise says how.
# Usage: ensure-debian-tool.sh NAME BINARY "PACKAGES" OVERRIDE_VARIABLE
set -euo pipefail

name=$1
binary=$2
packages=$3
override=$4

if [ -x "$binary" ]; then
  echo "$name: $binary"
  exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "$name: $binary missing, installing Debian's $packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086 # a list of packages
  apt-get install -y -qq --no-install-recommends $packages >/dev/null
  if [ -x "$binary" ]; then
    echo "$name: installed $binary"
    exit 0
  fi
  echo "$name: apt-get install finished but $binary is still missing" >&2
  exit 1
fi

cat >&2 <<MSG
$name: $binary is missing and this script cannot install it (needs root and apt-get).
Install it, e.g.:
  sudo apt-get update && sudo apt-get install -y $packages
or point $override at an existing binary.
MSG
exit 1
