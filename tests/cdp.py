"""A headless Chromium driven over the DevTools protocol, through a pipe: no library.

``chromium --remote-debugging-pipe`` reads protocol commands (JSON, each ended
by a NUL byte) on file descriptor 3 and writes replies and events on 4. That is
all a test needs to load a page, click in it, follow the navigation and read
the result, with the browser's own clock (the Performance API). The page's
Content-Security-Policy forbids scripts; ``Runtime.evaluate`` runs in the
inspector, outside the page's policy, and nothing here adds a script to a page.

Used by ``tests/test_report_browser.py`` and ``benchmarks/report.py``.
"""
from __future__ import annotations

import base64
import json
import os
import select
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio")


class BrowserError(RuntimeError):
    pass


class Browser:
    """One Chromium with one tab; ``with Browser(path) as b: b.open(url) ...``."""

    def __init__(self, chromium: str, size: tuple[int, int] = (1400, 1000), timeout: float = 60):
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="convgrad-cdp-")
        to_browser, self._out = os.pipe()     # we write commands; Chromium reads fd 3
        self._in, from_browser = os.pipe()    # Chromium writes fd 4; we read

        def fds():
            os.dup2(to_browser, 3)
            os.dup2(from_browser, 4)

        self.proc = subprocess.Popen(
            [chromium, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={self._profile.name}",
             f"--window-size={size[0]},{size[1]}", "about:blank"],
            pass_fds=(3, 4), preexec_fn=fds, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._buf, self._id, self.events = b"", 0, []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target,
                                                           "flatten": True})["sessionId"]
        self.call("Page.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", {"width": size[0], "height": size[1],
                                                         "deviceScaleFactor": 1, "mobile": False},
                  session=True)

    # -- the protocol
    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise BrowserError("Chromium did not answer in time")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise BrowserError("Chromium closed the pipe")
            self._buf += chunk
        message, self._buf = self._buf.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: Optional[dict] = None, session: bool = False) -> dict:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str) -> dict:
        """The next event ``method`` (one already received counts)."""
        deadline = time.monotonic() + self.timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read(deadline))

    # -- pages
    def open(self, url: str) -> float:
        """Load ``url``; the wall seconds from the navigation command to the load event."""
        self.events.clear()
        start = time.perf_counter()
        result = self.call("Page.navigate", {"url": url}, session=True)
        if result.get("errorText"):
            raise BrowserError(f"{url}: {result['errorText']}")
        self.wait_event("Page.loadEventFired")
        return time.perf_counter() - start

    def js(self, expression: str):
        """The value of ``expression`` in the page (JSON-able values only)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector: str, edge: bool = False) -> None:
        """Click the first element matching ``selector`` with the mouse, as a user would: in
        its middle, or near its left edge (``edge``: a summary's marker, not a link in it)."""
        x = "r.left + Math.min(6, r.width / 2)" if edge else "r.left + r.width / 2"
        box = self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                      "e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
                      f"return [{x}, r.top + Math.min(8, r.height / 2)]; }})()")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1],
                                                   "button": "left", "clickCount": 1},
                      session=True)

    def first_screen(self) -> dict:
        """The browser's own timings of the loaded page, in seconds from navigation start."""
        return self.js("""(() => {
            const nav = performance.getEntriesByType('navigation')[0];
            const paint = Object.fromEntries(performance.getEntriesByType('paint')
                .map(p => [p.name, p.startTime / 1000]));
            return {dom_content_loaded: nav.domContentLoadedEventEnd / 1000,
                    load: nav.loadEventEnd / 1000,
                    first_contentful_paint: paint['first-contentful-paint'] ?? null,
                    bytes: nav.decodedBodySize};
        })()""")

    def screenshot(self, png: Path) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        png.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (BrowserError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._in, self._out):
            try:
                os.close(fd)
            except OSError:
                pass
        self._profile.cleanup()

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
