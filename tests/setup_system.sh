#!/usr/bin/env bash
# System packages the suite needs on a bare machine (CI, a new laptop). Idempotent and quiet when done.
set -euo pipefail
need=()
command -v /usr/sbin/sshd >/dev/null 2>&1 || need+=(openssh-server)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "tests need: ${need[*]} (install them with your package manager, or run as root)" >&2
    exit 1
  fi
  echo "installing ${need[*]} for the tests..."
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
