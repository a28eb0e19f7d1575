"""The operator console in headless Chromium (Debian's) against two fleet instances: alice logs in on
instance b, sees the handoff a robot raised on instance a (its detail as text, not HTML), claims it,
resolves it; the robot gets the resolution. Bob, of another chain, sees an empty queue."""

from __future__ import annotations

import asyncio
import threading

import pytest
from fleet_helpers import PASSWORD, FleetPair, handoff

from restock import records
from restock.testing.browser import CHROMIUM, CHROMIUM_ARGS, log_in, new_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_console_lists_claims_and_resolves(fleet_pair: FleetPair) -> None:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (apt package chromium; scripts/setup.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip playwright (the test extra)")
    got: list[records.HandoffResolution] = []
    linked, stop = threading.Event(), threading.Event()

    def robot() -> None:  # the robot's link on its own loop, beside the browser's
        async def run() -> None:
            link = fleet_pair.link(0, "ra1", on_resolution=got.append)
            task = asyncio.create_task(link.run())
            request = handoff("h-console")
            request = request.model_copy(update={"detail": "<img src=x onerror=alert(1)> bottle on its side"})
            link.send_handoff(request, blocked_sales_per_h=4.0)
            while link.outbox or link.connects == 0:
                await asyncio.sleep(0.02)
            linked.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)
            await link.stop()
            task.cancel()

        asyncio.run(run())

    thread = threading.Thread(target=robot, daemon=True)
    thread.start()
    assert linked.wait(30)
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = new_page(browser)
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            log_in(page, fleet_pair.url(1, ""), "alice", PASSWORD)
            row = page.locator("#queue tr[data-request-id='h-console']")
            row.wait_for(timeout=20_000)
            assert "bottle on its side" in row.inner_text() and "<img" in row.inner_text()  # shown as text
            row.locator("button.claim").click()
            page.locator("#queue tr[data-request-id='h-console'] button.resolve").wait_for(timeout=20_000)
            assert "claimed by alice" in page.locator("#queue tr[data-request-id='h-console']").inner_text()
            page.locator("#queue tr[data-request-id='h-console'] select.action").select_option("removed")
            page.locator("#queue tr[data-request-id='h-console'] button.resolve").click()
            page.locator("#status", has_text="resolved h-console").wait_for(timeout=20_000)
            page.locator("#queue tr[data-request-id='h-console']").wait_for(state="detached", timeout=20_000)
            assert "alice" in page.locator("#operators").inner_text()
            other = new_page(browser)
            log_in(other, fleet_pair.url(0, ""), "bob", PASSWORD)
            other.locator("#waits", has_text="0 open").wait_for(timeout=20_000)
            assert other.locator("#queue tbody tr").count() == 0
            assert dialogs == []
            browser.close()
        for _ in range(200):
            if got:
                break
            stop.wait(0.05)
        assert [(r.request_id, r.action, r.operator) for r in got] == [("h-console", "removed", "alice")]
    finally:
        stop.set()
        thread.join(10)
