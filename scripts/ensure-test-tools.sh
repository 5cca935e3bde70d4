#!/usr/bin/env bash
# The tools `npm test` drives besides Node: Chromium (portal browser tests), nginx (gateway test), nats-server (JetStream ingest).
set -euo pipefail
here=$(dirname "$0")
bash "$here/ensure-debian-tool.sh" chromium "${CHROMIUM_PATH:-/usr/bin/chromium}" "chromium fonts-dejavu-core" CHROMIUM_PATH
bash "$here/ensure-debian-tool.sh" nginx "${NGINX_BIN:-/usr/sbin/nginx}" "nginx" NGINX_BIN
# NATS with JetStream (the jetstream ingest transport's tests run private servers they can restart).
bash "$here/ensure-debian-tool.sh" nats-server "${NATS_SERVER_BIN:-/usr/sbin/nats-server}" "nats-server" NATS_SERVER_BIN
