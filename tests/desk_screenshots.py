"""Take the docs' screenshots of a running desk demo (not a test).

Usage, with ``webchat-wrapup desk --demo`` running for a few minutes::

    python tests/desk_screenshots.py http://127.0.0.1:8000/ AGENT docs/images

``AGENT`` is the demo's own agent (the id the demo prints, ``sim…:you``).
Waits until that agent has a chat in wrap-up, extends it once and picks a
classification, then shoots its desk and the supervisor view.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"


def main(base: str, agent: str, folder: Path) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--headless=new"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}desk/{agent}")
        in_wrap_up = page.locator("article.chat", has_text="Wrap-up").first
        expect(in_wrap_up).to_be_visible(timeout=120_000)
        in_wrap_up.locator('button[data-action="extend"]').click()
        choice = in_wrap_up.locator('[data-role="classification"]')
        if choice.evaluate("node => node.tagName") == "SELECT":
            choice.select_option("delivery-late")
        else:
            choice.fill("Parcel not delivered")
            in_wrap_up.locator('button[data-action="classify"]').click()
        expect(in_wrap_up.locator('[data-role="classified"]')).to_be_visible()
        page.wait_for_timeout(1500)
        page.screenshot(path=str(folder / "desk-agent.png"), full_page=True)
        page.goto(f"{base}supervisor")
        page.wait_for_timeout(2500)
        page.screenshot(path=str(folder / "desk-supervisor.png"), full_page=True)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
