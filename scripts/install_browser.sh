#!/usr/bin/env bash
# Install the headless browser the report tests use (Debian/Ubuntu): chromium + chromedriver + selenium.
# Safe to rerun; prints why and exits 0 when it cannot install (the browser tests then skip with that reason).
# --system-only: only the Debian packages (selenium comes with the package's `dev` extra, as in .ci/run).
set -uo pipefail
PYTHON="${PYTHON:-python3}"
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
      || echo "install_browser: apt-get could not install chromium chromium-driver; browser tests will skip"
  else
    echo "install_browser: no root apt-get here; install chromium and chromium-driver to run the browser tests"
  fi
fi
[ "${1:-}" = "--system-only" ] && exit 0
"$PYTHON" -m pip install -q "selenium>=4.20" || echo "install_browser: pip could not install selenium; browser tests will skip"
