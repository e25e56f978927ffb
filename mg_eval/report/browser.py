"""Headless Chromium for the report's tests, benchmark and screenshots (selenium + Debian's chromium).

Not used by the report itself (the site needs no browser to be built). :func:`find_browser` says why no
browser can run (``None`` = one can); :func:`headless_chrome` starts one with every network-using feature off.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--allow-file-access-from-files")
INSTALL_HINT = "install it with scripts/install_browser.sh (apt-get install -y chromium chromium-driver; pip install selenium)"


def browser_binaries() -> tuple[str | None, str | None]:
    """(chromium, chromedriver) paths, ``None`` where not installed."""
    chrome = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    return chrome, shutil.which("chromedriver")


def find_browser() -> str | None:
    """``None`` when a headless browser can run here, else the reason it cannot."""
    chrome, driver = browser_binaries()
    if chrome is None or driver is None:
        return f"chromium / chromedriver not found on PATH; {INSTALL_HINT}"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return f"selenium is not installed; {INSTALL_HINT}"
    return None


def headless_chrome(width: int = 1400, height: int = 1000, profile_dir: str | Path | None = None) -> Any:
    """A selenium Chrome driver (headless, sandbox off, no background networking, performance log on)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chrome, driver = browser_binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = chrome
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument(f"--user-data-dir={profile_dir or tempfile.mkdtemp(prefix='mg-report-chrome-')}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)
