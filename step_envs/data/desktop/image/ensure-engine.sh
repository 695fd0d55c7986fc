#!/usr/bin/env bash
# Make sure a Docker engine answers: install Debian's docker.io (+ debootstrap for the image's base) when missing,
# start dockerd in the background when none runs. Host network only (--bridge=none --iptables=false): containers
# need no NAT here, and the sandboxes this runs in often have no iptables.
set -euo pipefail
LOG=${STEP_ENVS_DOCKERD_LOG:-/var/log/step-gym-dockerd.log}
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)

if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
  echo "installing Debian's docker.io and debootstrap"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends docker.io debootstrap >/dev/null
fi
if docker info >/dev/null 2>&1; then
  exit 0
fi
if [ -n "${DOCKER_HOST:-}" ]; then
  echo "DOCKER_HOST=$DOCKER_HOST does not answer; start that engine or unset DOCKER_HOST" >&2
  exit 1
fi
echo "starting dockerd in the background (log: $LOG)"
$SUDO bash -c "nohup dockerd --bridge=none --iptables=false --ip6tables=false >>'$LOG' 2>&1 &"
for _ in $(seq 1 150); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 0.2
done
echo "dockerd did not answer within 30 s; its log:" >&2
tail -20 "$LOG" >&2
exit 1
