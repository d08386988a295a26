"""The HTML report in a real browser: headless Chromium loads the page, plays its videos and renders it.

Runs only with ``-m browser`` and skips when no Chromium is installed (``apt-get install chromium``).
"""
from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import threading

import numpy as np
import pytest

pytestmark = pytest.mark.browser

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium() -> str | None:
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("Chromium not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def served_report(tmp_path_factory):
    """``vidxai explain --html`` output for a small clip, served over HTTP from a local server."""
    import test_cli
    from vidxai.cli import main

    video_dir = tmp_path_factory.mktemp("video")
    from vidxai.io import write_video

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 60, (20, 96, 128, 3), dtype=np.uint8)
    for t in range(20):
        frames[t, 20:52, 4 * t:4 * t + 32] = 230
    video = video_dir / "clip.mp4"
    write_video(video, frames, fps=10)
    import vidxai

    added = test_cli.TINY not in vidxai.models.list()
    if added:
        vidxai.models.register(test_cli.TINY, spec=vidxai.InputSpec(8, (32, 32), 32), family="test")(
            test_cli._tiny_builder)
    out = tmp_path_factory.mktemp("report")
    rc = main(["explain", str(video), "--model", test_cli.TINY, "--method", "gradient", "gradcam", "--out", str(out),
               "--curve-steps", "4", "--html", "--quiet"])
    assert rc == 0 and (out / "report.html").is_file()
    handler = functools.partial(_QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield out, f"http://127.0.0.1:{server.server_address[1]}/report.html"
    finally:
        server.shutdown()
        server.server_close()
        if added:
            test_cli.unregister(vidxai.models._REGISTRY, test_cli.TINY)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


def _chromium(binary: str, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
           "--autoplay-policy=no-user-gesture-required", "--virtual-time-budget=10000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_report_videos_load_and_play(chromium, served_report):
    out, url = served_report
    p = _chromium(chromium, "--dump-dom", url)
    body = re.search(r"<body[^>]*>", p.stdout)
    assert body, p.stderr[-2000:]
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(0)))
    assert "data-video-error" not in attrs, attrs
    assert attrs.get("data-videos-total") == "3"  # two overlays and the grid
    assert attrs.get("data-videos-loaded") == "3", attrs
    assert attrs.get("data-videos-ready") == "yes", attrs
    assert "gradcam" in p.stdout and "curves.png" in p.stdout


def test_report_screenshot_is_not_blank(chromium, served_report, tmp_path):
    import cv2

    _, url = served_report
    shot = tmp_path / "report.png"
    _chromium(chromium, f"--screenshot={shot}", "--window-size=1280,1400", url)
    assert shot.is_file(), "no screenshot written"
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[:2] == (1400, 1280)
    assert img.std() > 20  # text, tables, curves and videos, not an empty page
    colours = np.unique(img.reshape(-1, 3), axis=0)
    assert len(colours) > 500
    # the first overlay card shows the video: a wide patch of saturated heat colours (jet) below the tables
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    saturated = (hsv[..., 1] > 150) & (hsv[..., 2] > 60)
    assert saturated[300:].mean() > 0.02
