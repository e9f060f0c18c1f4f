#!/usr/bin/env bash
# Install the system packages the end-to-end tests need: Debian's chromium (driven by Playwright
# through executable_path, never `playwright install`, which downloads a browser and fails offline)
# and PostgreSQL (throwaway clusters are started by tests/support/postgres.py).
# Idempotent and silent when everything is already present.
set -euo pipefail

missing=()

if ! command -v chromium >/dev/null 2>&1; then
    missing+=(chromium)
fi

if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    missing+=(postgresql)
fi

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-test-deps: missing ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-test-deps: installing ${missing[*]}" >&2
apt-get update -qq
apt-get install -y -qq "${missing[@]}"
