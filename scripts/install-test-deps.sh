#!/usr/bin/env bash
# Installs what the tests need beyond the .NET SDK: headless Chromium from Debian's packages, which the
# console's browser test (AspireCache.Console.Tests) drives with Playwright. Playwright's own browser
# download is not used (it is not reachable from CI). Idempotent: does nothing when chromium is there.
set -euo pipefail

if [[ -x /usr/bin/chromium ]] || [[ -n "${CHROMIUM_PATH:-}" && -x "${CHROMIUM_PATH}" ]]; then
  exit 0
fi

sudo=""
if [[ "$(id -u)" -ne 0 ]]; then
  sudo="sudo"
fi

echo "Installing chromium (Debian package) for the console's browser test..."
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq chromium >/dev/null
/usr/bin/chromium --version
