"""Render reports in headless Chromium and check what a reader would see.

The browser is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
JSON messages on file descriptors 3 and 4), so the test needs no websocket library and the
report needs no script of its own. Two control pages prove the checks can fail: a broken
image must show naturalWidth 0 and a network load must be reported as an error.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from alignkit.report import Report, plots

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium, or scripts/setup.sh --test)"
)

PROBE = """JSON.stringify({
  title: document.title,
  tables: Array.from(document.querySelectorAll('table')).map(t => t.rows.length),
  images: Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.getBoundingClientRect().width]),
  text: document.body.innerText,
  scripts: document.scripts.length,
  scrollWidth: document.documentElement.scrollWidth,
  wraps: Array.from(document.querySelectorAll('.tablewrap')).map(d => [d.scrollWidth, d.clientWidth])
})"""


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


def render(page: Path, profile: Path, width: int = 1280) -> tuple[dict[str, Any], list[str]]:
    """Load ``page`` in a fresh headless Chromium with a ``width``-px viewport; return the probe
    result (plus ``contentWidth``, the full-page screenshot's width in CSS px) and the errors."""
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
        res = dt.send("Runtime.evaluate", {"expression": PROBE, "returnByValue": True}, session=session)
        metrics = dt.send("Page.getLayoutMetrics", session=session)
        events = [e for e in dt.events if e.get("sessionId") == session]
        probe = json.loads(res["result"]["value"])
        probe["contentWidth"] = metrics["cssContentSize"]["width"]
        return probe, errors_of(events)
    finally:
        dt.close()


def test_report_renders_tables_and_images_without_errors(tmp_path):
    evil = '<script>console.error("pwned")</script><img src=x onerror=alert(1)>'
    rep = Report("Browser check", subtitle=evil)
    rep.heading("Results").table(
        [{"model": "aligned", "top1": 0.61, "caption": evil}, {"model": "asif", "top1": 0.42, "caption": "ok"}],
        caption="zero-shot",
        best={"top1": "max"},
    )
    rep.figure(plots.heatmap(np.arange(6.0).reshape(2, 3), ["a", "b"], ["x", "y", "z"], title="cka"), caption=evil)
    rep.image_grid([(Image.new("RGB", (28, 28), (200, 30, 30)), evil), (Image.new("L", (300, 200), 128), "grey")])
    page = rep.write(tmp_path / "report")

    probe, errors = render(page, tmp_path / "profile")
    assert errors == []
    assert probe["title"] == "Browser check"
    assert probe["scripts"] == 0
    assert probe["tables"] == [3]  # header + two rows
    assert len(probe["images"]) == 3
    for complete, natural_width, shown_width in probe["images"]:
        assert complete and natural_width > 0 and shown_width > 0
    assert 'console.error("pwned")' in probe["text"]  # shown as text, not run


def test_controls_broken_image_and_network_load_are_caught(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(Report("control").to_html().replace(
        "</body>",
        '<img src="data:image/png;base64,AAAA"><img src="http://127.0.0.1:9/x.png"></body>',
    ))  # fmt: skip
    probe, errors = render(page, tmp_path / "profile")
    assert [w for _, w, _ in probe["images"]] == [0, 0]
    assert errors, "a blocked network load must be reported as an error"


def test_evaluation_report_renders(tmp_path):
    from alignkit.evaluate import classification_result
    from alignkit.evaluate.page import write_eval_outputs

    labels = np.arange(4).repeat(5)
    result = classification_result(np.eye(4)[labels], labels, np.eye(4), "toy <b>task</b>", "m", ["a", "b", "<i>c</i>", "d"])
    page = write_eval_outputs([result], tmp_path / "eval", "Evaluation of m")
    probe, errors = render(page, tmp_path / "profile")
    assert errors == []
    assert probe["tables"] == [3]  # header + top1 + mean per-class recall
    assert len(probe["images"]) == 1 and probe["images"][0][1] > 0
    assert "toy <b>task</b>" in probe["text"]


def _ranking_entries() -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """A ranking as wide as a real one: every default metric raw and calibrated, long specs."""
    from alignkit.similarity import DEFAULT_METRICS

    vision = ["hf:facebook/dinov2-with-registers-giant?layer=-2&pool=cls+mean",
              "timm:vit_large_patch14_clip_224.openai_ft_in12k_in1k", "efficientnet-lite0-random"]
    text = ["st:sentence-transformers/paraphrase-multilingual-mpnet-base-v2", "st:sentence-transformers/all-roberta-large-v1",
            "hashed-ngrams"]
    rng = np.random.default_rng(0)
    ranked = []
    for v in vision:
        for t in text:
            e: dict[str, Any] = {"rank": len(ranked) + 1, "vision": v, "text": t, "control": "random" in v or t == "hashed-ngrams"}
            for m in DEFAULT_METRICS:
                e[m], e[f"{m}_cal"] = float(rng.random()), float(rng.random())
                e[f"{m}_ci"] = (e[m] - 0.05, e[m] + 0.05)
            ranked.append(e)
    return ranked, tuple(DEFAULT_METRICS)


def test_ranking_and_wide_tables_fit_a_1280px_page(tmp_path):
    from alignkit.rank.page import write_rank_report

    ranked, metrics = _ranking_entries()
    rows = [{"vision": e["vision"], "text": e["text"], "metric": m, "value": e[m]} for e in ranked for m in metrics]
    page = write_rank_report(tmp_path / "rank", rows, ranked, [], metrics, metrics[0], "builtin:emoji?split=probe", 500,
                             "alignkit rank-encoders --vision-zoo big --text-zoo big")
    probe, errors = render(page, tmp_path / "profile")
    assert errors == []
    assert probe["scrollWidth"] <= 1280 and probe["contentWidth"] <= 1280

    wide = Report("wide").table([{f"column number {j}": 0.5 + j for j in range(40)} for _ in range(3)])
    probe, _ = render(wide.write(tmp_path / "wide"), tmp_path / "profile2")
    assert probe["scrollWidth"] <= 1280 and probe["contentWidth"] <= 1280
    (inner, shown), = probe["wraps"]
    assert inner > shown  # the table scrolls inside its own box


def test_control_an_unwrapped_wide_table_is_caught(tmp_path):
    html = Report("wide").table([{f"column number {j}": 0.5 + j for j in range(40)}]).to_html()
    page = tmp_path / "unwrapped.html"
    page.write_text(html.replace('<div class="tablewrap">', "<div>"), encoding="utf-8")
    probe, _ = render(page, tmp_path / "profile")
    assert probe["scrollWidth"] > 1280 and probe["contentWidth"] > 1280
