"""The HTML report: timeline, per-window predictions, colour bar, scaling and protocol, players, phone layout."""
from __future__ import annotations

import json
import re

import numpy as np

from vidxai import render
from vidxai.render.report import colorbar_html, timeline_svg
from vidxai.result import ExplainResult


def _result(**method) -> dict:
    m = {"name": "guided-backprop", "overlay": "overlay_gb.mp4", "deletion_auc": 0.1, "insertion_auc": 0.5,
         "normalization": "percentile:99.5", "frame_importance": [0.1, 0.4, 0.2, 0.3],
         "curve_protocol": {"name": "quick", "steps": 8, "baseline": "zero", "mode": "voxel"}}
    m.update(method)
    return {"video": {"path": "/x/clip.mp4", "fps": 5, "width": 10, "height": 8, "num_frames": 4},
            "predictions": [{"index": 1, "name": "a", "probability": 0.75}], "target": {"index": 1, "name": "a"},
            "clip": {"mode": "all", "frame_indices": [0, 1, 2, 3], "num_windows": 2,
                     "window_predictions": [
                         {"frames": [0, 2], "predictions": [{"index": 1, "name": "juggling", "probability": 0.8}]},
                         {"frames": [2, 4], "predictions": [{"index": 2, "name": "archery", "probability": 0.6}]}]},
            "methods": [m], "params": {"colormap": "viridis"}, "fps": 5, "outputs": {}}


def test_timeline_colorbar_protocol_and_window_predictions(tmp_path):
    page = render.render_html(_result(), tmp_path)
    svg = re.search(r'<svg class="timeline"[^>]*data-count="4".*?</svg>', page, re.S)
    assert svg, "no timeline"
    points = re.search(r'points="([^"]+)"', svg.group(0)).group(1).split()
    ys = [float(p.split(",")[1]) for p in points]
    assert len(ys) == 4 and ys[1] == min(ys) and ys[0] == max(ys)  # highest importance drawn highest
    assert 'class="cursor"' in svg.group(0)
    assert 'class="colorbar"' in page and "linear-gradient(to right, #" in page
    assert "viridis, percentile:99.5" in page and "p99.5+" in page
    assert "quick protocol (8 steps, zero baseline, voxel)" in page
    assert "Predictions per window" in page and "juggling" in page and "archery" in page and "2&ndash;4" in page
    assert 'name="viewport"' in page and "@media (max-width" in page
    assert "timeupdate" in page and "http" not in page.split("<script>")[1]  # inline script, no CDN
    assert "$" not in page.replace("$ ", "")


def test_old_results_without_new_fields_still_render(tmp_path):
    old = _result()
    for k in ("normalization", "frame_importance", "curve_protocol"):
        del old["methods"][0][k]
    del old["clip"]["window_predictions"]
    del old["params"]
    page = render.render_html(old, tmp_path)
    assert "<svg" not in page and "Predictions per window" not in page
    assert "jet, " not in page and 'class="colorbar"' in page  # bar still shown, min/max labels
    assert ">min<" in page and ">max<" in page
    page = render.render_html(ExplainResult.from_dict({"methods": [{"name": "x"}]}), tmp_path)
    assert "<html" in page


def test_gif_and_png_outputs_get_players(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (3, 8, 10, 3), dtype=np.uint8)
    render.save_video(tmp_path / "overlay_png", frames, fps=5, fmt="png")
    render.save_video(tmp_path / "overlay_gif", frames, fps=5, fmt="gif")
    r = _result(overlay="overlay_png/")
    r["methods"].append({"name": "gradcam", "overlay": "overlay_gif.gif", "frame_importance": [1, 2, 3]})
    (tmp_path / "result.json").write_text(json.dumps(r))
    page = render.write_report(tmp_path).read_text()
    png = re.search(r'<img class="anim frames"[^>]*>', page)
    gif = re.search(r'<img class="anim gif"[^>]*>', page)
    assert png and "overlay_png/frame_00002.png" in png.group(0)
    assert gif and 'src="overlay_gif.gif"' in gif.group(0)
    assert "framesControl" in page and "gifControl" in page and 'id="pause"' in page


def test_timeline_svg_edge_cases():
    assert timeline_svg(None) == "" and timeline_svg([]) == ""
    flat = timeline_svg([0.5, 0.5])
    assert 'data-count="2"' in flat
    assert "nan" not in timeline_svg([0.1, float("nan"), 0.3]).lower().split("<title>")[0]
    assert "jet" in colorbar_html("no-such-colormap", "minmax")  # unknown colour map: the default bar
