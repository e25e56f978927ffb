"""Screenshots of the main views of a site written by `mg-eval report` (headless Chromium via selenium).

    python scripts/report_screenshots.py SITE_DIR OUT_DIR [--width 1400]

Writes OUT_DIR/{leaderboard,run,samples,compare}.png (compare only when the site has one).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mg_eval.report.browser import find_browser, headless_chrome


def _wait(driver, condition: str, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if driver.execute_script(f"return Boolean({condition});"):
            return
        time.sleep(0.1)
    raise TimeoutError(condition)


def _full_page(driver, path: Path, max_height: int) -> None:
    height = min(max_height, int(driver.execute_script("return document.documentElement.scrollHeight;")))
    driver.set_window_size(driver.get_window_size()["width"], max(600, height))
    time.sleep(0.3)
    driver.save_screenshot(str(path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site")
    parser.add_argument("out")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--max-height", type=int, default=2200)
    parser.add_argument("--run", default=None, help="run page file name (default: the first one)")
    args = parser.parse_args()
    reason = find_browser()
    if reason:
        print(f"no browser: {reason}", file=sys.stderr)
        return 2
    site, out = Path(args.site).resolve(), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    driver = headless_chrome(args.width, 1000)
    try:
        driver.get((site / "index.html").as_uri())
        _full_page(driver, out / "leaderboard.png", args.max_height)
        run_page = args.run or sorted(p.name for p in site.glob("run-*.html"))[0]
        driver.get((site / run_page).as_uri())
        _full_page(driver, out / "run.png", args.max_height)
        driver.get((site / "samples.html").as_uri())
        _wait(driver, "document.body.getAttribute('data-loaded')")
        driver.execute_script("var r = document.querySelector('tr.sample'); if (r) { r.click(); }")
        _full_page(driver, out / "samples.png", args.max_height)
        if (site / "compare.html").is_file():
            driver.get((site / "compare.html").as_uri())
            _wait(driver, "document.body.getAttribute('data-loaded') === 'compare'")
            _full_page(driver, out / "compare.png", args.max_height)
    finally:
        driver.quit()
    for path in sorted(out.glob("*.png")):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
