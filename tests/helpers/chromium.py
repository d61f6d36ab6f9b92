"""Headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
JSON messages on file descriptors 3 and 4), so nothing needs a websocket library and a report
needs no script of its own. Shared by the report rendering tests and by
``scripts/screenshots.py``, which regenerates the screenshots in docs/ from current reports.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)

PROBE = """JSON.stringify({
  title: document.title,
  tables: Array.from(document.querySelectorAll('table')).map(t => t.rows.length),
  images: Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.getBoundingClientRect().width]),
  text: document.body.innerText,
  scripts: document.scripts.length,
  scrollWidth: document.documentElement.scrollWidth,
  wraps: Array.from(document.querySelectorAll('.tablewrap')).map(d => [d.scrollWidth, d.clientWidth])
})"""


# Every table cell as a reader sees it: text wider than its cell (overflow), and any number
# (digits with their sign, point and exponent, standing alone, not inside a path or name) whose
# characters sit on more than one line.
CELLS = r"""JSON.stringify(Array.from(document.querySelectorAll('th, td')).flatMap(cell => {
  const out = [];
  if (cell.scrollWidth > cell.clientWidth + 1) out.push({cell: cell.innerText, problem: 'overflows its cell'});
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const m of node.data.matchAll(/(?<![\w\/.:-])[-+]?\d[\d.,]*(e[-+]?\d+)?%?/g)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const tops = new Set(Array.from(range.getClientRects()).filter(r => r.width > 0).map(r => Math.round(r.top)));
      if (tops.size > 1) out.push({cell: cell.innerText, problem: 'breaks the number ' + m[0]});
    }
  }
  return out;
}))"""


def _high_fd(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


class DevTools:
    """A minimal DevTools client over Chromium's debugging pipe."""

    def __init__(self, profile: Path):
        # Move the pipe ends above fd 10 so the dup2 onto 3 and 4 below never hits its own
        # source (dup2(3, 3) would keep close-on-exec) or clobbers the other pipe.
        to_child_r, self._to_child_w = map(_high_fd, os.pipe())
        self._from_child_r, from_child_w = map(_high_fd, os.pipe())

        def wire_fds() -> None:  # runs in the child: the pipe protocol wants fds 3 and 4
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self.proc = subprocess.Popen(
            [
                CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--no-default-browser-check", "--remote-debugging-pipe",
                f"--user-data-dir={profile}", "about:blank",
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=False, preexec_fn=wire_fds,
        )  # fmt: skip
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child_w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read(timeout)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 30) -> dict:
        for ev in self.events:
            if ev.get("method") == method:
                return ev
        while True:
            ev = self._read(timeout)
            self.events.append(ev)
            if ev.get("method") == method:
                return ev

    def _read(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_child_r], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_child_r, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the debugging pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child_w)
        os.close(self._from_child_r)


def errors_of(events: list[dict[str, Any]]) -> list[str]:
    """Console errors, uncaught exceptions and browser log errors (CSP, failed loads)."""
    out = []
    for ev in events:
        m, p = ev.get("method"), ev.get("params", {})
        if m == "Runtime.exceptionThrown":
            out.append(p["exceptionDetails"].get("text", "exception"))
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
            out.append(p["entry"].get("text", ""))
    return out


def render(page: Path, profile: Path, width: int = 1280, probe: str = PROBE) -> tuple[Any, list[str]]:
    """Load ``page`` in a fresh headless Chromium with a ``width``-px viewport; return the probe
    result (plus ``contentWidth``, the full-page screenshot's width in CSS px, when it is a dict)
    and the errors. ``probe`` is the JavaScript expression to evaluate (``PROBE``, ``CELLS``)."""
    dt = DevTools(profile)
    try:
        target = dt.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = dt.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            dt.send(f"{domain}.enable", session=session)
        dt.send("Emulation.setDeviceMetricsOverride",
                {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=session)
        dt.send("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        dt.wait_event("Page.loadEventFired")
        time.sleep(0.3)  # let late log entries (CSP reports) arrive
        res = dt.send("Runtime.evaluate", {"expression": probe, "returnByValue": True}, session=session)
        metrics = dt.send("Page.getLayoutMetrics", session=session)
        events = [e for e in dt.events if e.get("sessionId") == session]
        found = json.loads(res["result"]["value"])
        if isinstance(found, dict):
            found["contentWidth"] = metrics["cssContentSize"]["width"]
        return found, errors_of(events)
    finally:
        dt.close()


def screenshot(page: Path, png: Path, profile: Path, width: int = 1280, height: int = 2000) -> Path:
    """Save the top ``width`` x ``height`` CSS px of ``page`` as rendered by headless Chromium."""
    dt = DevTools(profile)
    try:
        target = dt.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = dt.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        dt.send("Page.enable", session=session)
        dt.send("Emulation.setScrollbarsHidden", {"hidden": True}, session=session)
        dt.send("Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
        dt.send("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
        dt.wait_event("Page.loadEventFired")
        time.sleep(0.3)
        shot = dt.send("Page.captureScreenshot", {"format": "png", "clip": {"x": 0, "y": 0, "width": width, "height": height,
                                                                           "scale": 1}}, session=session, timeout=60)
    finally:
        dt.close()
    png.parent.mkdir(parents=True, exist_ok=True)
    png.write_bytes(base64.b64decode(shot["data"]))
    return png
