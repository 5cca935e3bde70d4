#!/usr/bin/env bash
# The tools `npm test` drives besides Node: Chromium (portal browser tests) and nginx (gateway test).
set -euo pipefail
here=$(dirname "$0")
bash "$here/ensure-debian-tool.sh" chromium "${CHROMIUM_PATH:-/usr/bin/chromium}" "chromium fonts-dejavu-core" CHROMIUM_PATH
bash "$here/ensure-debian-tool.sh" nginx "${NGINX_BIN:-/usr/sbin/nginx}" "nginx" NGINX_BIN
