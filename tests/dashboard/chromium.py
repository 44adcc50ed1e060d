"""Headless Chromium driven over the DevTools protocol, for the dashboard's browser tests; and a PNG reader.

Chromium speaks the protocol over a pipe (``--remote-debugging-pipe``: it reads NUL-terminated JSON messages on
fd 3 and writes them on fd 4), so no websocket client is needed. :func:`load_page` opens a page, waits until it has
drawn its charts, and returns what the console and the network saw: uncaught exceptions
(``Runtime.exceptionThrown``), ``console.error``/``console.assert`` calls (``Runtime.consoleAPICalled``), browser log
entries at level error (``Log.entryAdded``: failed loads, blocked content), and every URL requested
(``Network.requestWillBeSent``), with a full-page screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
# as this machine's notes say headless Chromium must start here: no sandbox as root, no GPU, no background traffic
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
)
TIMEOUT_S = 60.0


@dataclass
class PageLoad:
    """What loading one page showed."""

    errors: list[str] = field(default_factory=list)  # exceptions, console errors, browser log errors
    warnings: list[str] = field(default_factory=list)  # console warnings, browser log warnings
    requests: list[str] = field(default_factory=list)  # every URL the page requested, the page's own first
    drawn: int = 0  # the value of the ready expression when the page was taken
    screenshot: bytes = b""  # PNG of the whole page


class _Pipe:
    """One Chromium process and the protocol messages on its pipe."""

    def __init__(self, user_data_dir: str) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # the child's ends above fd 9, so that putting them on 3 and 4 overwrites neither
        to_browser_r, from_browser_w = (_high(fd) for fd in (to_browser_r, from_browser_w))
        # bash puts the pipe ends on fds 3 and 4 (dash takes single-digit fds only), then becomes Chromium
        script = f'exec "$@" 3<&{to_browser_r} 4>&{from_browser_w} {to_browser_r}<&- {from_browser_w}>&-'
        argv = ["/bin/bash", "-c", script, "bash", str(CHROMIUM), *FLAGS, f"--user-data-dir={user_data_dir}", "about:blank"]
        self.process = subprocess.Popen(
            argv, pass_fds=(to_browser_r, from_browser_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Send one command and wait for its answer; events arriving meanwhile are kept in ``events``."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, method: str, deadline: float) -> None:
        """Read until an event named ``method`` has arrived."""
        while not any(event["method"] == method for event in self.events):
            reply = self._read(deadline)
            if "method" in reply:
                self.events.append(reply)

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the pipe (exit status {self.process.poll()})")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        decoded: dict[str, Any] = json.loads(message)
        return decoded

    def close(self) -> None:
        with suppress(RuntimeError, TimeoutError, OSError):
            self.call("Browser.close")
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


def _high(fd: int) -> int:
    """``fd`` moved to a number above 9."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


@contextmanager
def chromium() -> Iterator[_Pipe]:
    """A headless Chromium with a new empty profile, closed afterwards."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    pipe = _Pipe(profile)
    try:
        yield pipe
    finally:
        pipe.close()
        shutil.rmtree(profile, ignore_errors=True)


def load_page(path: Path, ready: str, want: int, *, width: int = 1400) -> PageLoad:
    """Open ``path`` and wait until the JavaScript expression ``ready`` reaches ``want`` (or the timeout); then
    take the page's console, network and a full-page screenshot."""
    with chromium() as browser:
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            browser.call(f"{domain}.enable", session=session)
        metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}
        browser.call("Emulation.setDeviceMetricsOverride", metrics, session=session)
        browser.call("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
        deadline = time.monotonic() + TIMEOUT_S
        browser.wait_for("Page.loadEventFired", deadline)
        drawn = 0
        while time.monotonic() < deadline:
            answer = browser.call("Runtime.evaluate", {"expression": ready, "returnByValue": True}, session=session)
            drawn = int(answer["result"].get("value") or 0)
            if drawn >= want:
                break
            time.sleep(0.2)
        time.sleep(0.5)  # plotly finishes its transitions; the screenshot should show the settled page
        shot = browser.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=session)
        load = PageLoad(drawn=drawn, screenshot=base64.b64decode(shot["data"]))
        for event in browser.events:
            _note(event, load)
        return load


def _note(event: dict[str, Any], load: PageLoad) -> None:
    method, params = event["method"], event.get("params", {})
    if method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        load.errors.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
    elif method == "Runtime.consoleAPICalled":
        text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
        if params["type"] in ("error", "assert"):
            load.errors.append(f"console.{params['type']}: {text}")
        elif params["type"] == "warning":
            load.warnings.append(f"console.warn: {text}")
    elif method == "Log.entryAdded":
        entry = params["entry"]
        if entry["level"] == "error":
            load.errors.append(f"log ({entry['source']}): {entry['text']} {entry.get('url', '')}".strip())
        elif entry["level"] == "warning":
            load.warnings.append(f"log ({entry['source']}): {entry['text']}")
    elif method == "Network.requestWillBeSent":
        load.requests.append(params["request"]["url"])


def png_pixels(png: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Width, height and RGB pixels of an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks, header = 8, [], b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
    channels = 4 if color == 6 else 3
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(line)
        previous = line
    pixels = [(row[i], row[i + 1], row[i + 2]) for row in rows for i in range(0, stride, channels)]
    return width, height, pixels
