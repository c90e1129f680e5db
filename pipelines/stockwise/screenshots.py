"""The planner report in a real browser: headless Chromium (Debian's `chromium`) through Playwright.

    python -m stockwise.screenshots --ds 2025-12-31 --out docs/img      (`make screenshots`)

`open_report` is what the browser tests use: the page as a planner opens it from the lake, with
every console error and page error collected (a script the page's Content-Security-Policy
refuses shows up there). Nothing is downloaded: Playwright drives the system's Chromium.
"""

from __future__ import annotations

import argparse
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any


def chromium() -> str:
    """The system Chromium, or an error that says how to get it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("no Chromium found: `make test-tools` installs Debian's chromium (as root)")


@dataclass
class Opened:
    page: Any  # playwright.sync_api.Page
    errors: list[str] = field(default_factory=list)


@contextmanager
def open_report(path: str | Path, width: int = 1400, height: int = 900) -> Iterator[Opened]:
    """The report at `path` (a file or file:// URI) in headless Chromium, fully loaded."""
    from playwright.sync_api import sync_playwright

    url = str(path) if str(path).startswith("file://") else Path(path).resolve().as_uri()
    with sync_playwright() as pw:
        # --no-sandbox: CI machines run the tests as root, where Chromium's sandbox cannot start
        browser = pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            opened = Opened(page)
            page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: opened.errors.append(str(e)))
            page.goto(url, wait_until="load")
            yield opened
        finally:
            browser.close()


def report_path(ds: date) -> str:
    """The published (or staged, when held) report of `ds` in the configured lake."""
    from stockwise import lake
    from stockwise.catalog import REPORTS
    from stockwise.settings import Settings

    store = lake.open_lake(Settings())
    d = ds.isoformat()
    if not REPORTS.exists(store, d):
        raise SystemExit(f"no report for {d} in {store.uri('')}: run `make run` first")
    return store.uri(REPORTS.manifest(store, d).key("index.html"))


def take(path: str, out: Path) -> list[Path]:
    """Four views for the README: the summary, the worklist filtered to one supplier, the
    positions at risk, and the page of the largest line."""
    out.mkdir(parents=True, exist_ok=True)
    shots = []
    with open_report(path) as r:
        page = r.page
        shots.append(out / "report-summary.png")
        page.screenshot(path=str(shots[-1]))
        bar = page.locator(".tools[data-table='worklist']")
        col = page.locator("#worklist thead th").all_text_contents().index("Supplier") + 1
        names = page.locator(f"#worklist tbody td:nth-child({col})").all_text_contents()
        supplier = max(sorted(set(names)), key=names.count)  # the supplier with the most lines
        bar.locator("select[aria-label='Supplier']").select_option(label=supplier)
        page.locator("#worklist thead th", has_text="Order value").click()
        page.locator("#worklist thead th", has_text="Order value").click()  # largest first
        page.locator("h2", has_text="Worklist").evaluate("e => e.scrollIntoView()")
        shots.append(out / "report-worklist.png")
        page.screenshot(path=str(shots[-1]))
        risk = page.locator("h2", has_text=re.compile(r"^At risk, not ordered"))
        if risk.count():
            risk.evaluate("e => e.scrollIntoView()")
            shots.append(out / "report-at-risk.png")
            page.screenshot(path=str(shots[-1]))
        # the most valuable line's own page (the worklist is sorted by value, largest first)
        page.locator("#worklist tbody tr:not([hidden]) a").first.click()
        page.wait_for_load_state("load")
        shots.append(out / "report-position.png")
        page.screenshot(path=str(shots[-1]), full_page=True)
        if r.errors:
            raise RuntimeError(f"the report logged errors in Chromium: {r.errors}")
    return shots


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stockwise.screenshots", description=__doc__.splitlines()[0])
    ap.add_argument("--ds", type=date.fromisoformat, required=True, help="the plan's date")
    ap.add_argument("--out", type=Path, default=Path("docs/img"), help="folder for the PNG files")
    a = ap.parse_args(argv)
    for p in take(report_path(a.ds), a.out):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
