"""Headless Chromium as the browser tests and benches start it (Debian's chromium, never a download)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
# Meta's WebXR emulation runtime (npm iwer, pinned in restock/teleop/web), installed as a Quest 3.
IWER = Path(__file__).resolve().parents[1] / "teleop" / "web" / "node_modules" / "iwer" / "build" / "iwer.min.js"
INSTALL_QUEST3 = """
window.__xrDevice = new IWER.XRDevice(IWER.metaQuest3);
window.__xrDevice.installRuntime({ forceInstall: true });
"""
# Without the background-networking flags Chromium reaches for Google's hosts, refused here.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    # Nothing off loopback: no name resolves but localhost (Chromium otherwise looks up its own
    # services' hosts on the network at start, even headless), no prefetch, no pings.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    "--dns-prefetch-disable",
    "--disable-domain-reliability",
    "--disable-sync",
    "--no-pings",
    # WebRTC on loopback (the operator stream's second path): host candidates on 127.0.0.1, as
    # addresses rather than mDNS names (whose lookup would be multicast on the network).
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]


def log_in(page: Any, base_url: str, operator: str, password: str, query: str = "") -> None:
    """Open the operator app at ``base_url`` (``query``: "?stream=webrtc", say) and log in through
    its form, as a person would."""
    page.goto(base_url + "/" + query)
    page.fill("#operator", operator)
    page.fill("#password", password)
    page.click("#login")


def new_page(browser: Any, *init_scripts: str | Path) -> Any:
    """A page that accepts the bridge's self-signed development certificate; scripts run before the app."""
    context = browser.new_context(ignore_https_errors=True)
    for script in init_scripts:
        if isinstance(script, Path):
            context.add_init_script(path=str(script))
        else:
            context.add_init_script(script)
    return context.new_page()
