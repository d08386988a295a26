"""A static, self-contained HTML report of one ``vidxai explain`` output folder.

The page (``report.html`` next to ``result.json``) only uses relative links to the files in the folder, so the
folder can be moved, zipped or served as is. It plays the overlay videos side by side (with shared
play/pause), shows the method grid, the deletion/insertion curves, the top-k predictions and the scores.
"""
from __future__ import annotations

import html
import json
import os
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from ..errors import InputError

RESULT_FILE = "result.json"
REPORT_FILE = "report.html"
VIDEO_SUFFIXES = (".mp4", ".webm", ".m4v")


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def media(directory: Path, rel: str, fps: float = 8.0, css_class: str = "") -> str:
    """The HTML element showing the output ``rel`` (a video, a GIF or a folder of PNG frames)."""
    cls = f' class="{css_class}"' if css_class else ""
    if rel.endswith("/") or (directory / rel).is_dir():
        frames = sorted(p.name for p in (directory / rel).glob("*.png"))
        srcs = [f"{rel.rstrip('/')}/{f}" for f in frames]
        first = srcs[0] if srcs else ""
        return (f'<img{cls} src="{_e(first)}" alt="{_e(rel)}" data-fps="{fps:g}" '
                f"data-frames='{_e(json.dumps(srcs))}'>")
    if rel.lower().endswith(VIDEO_SUFFIXES):
        return (f'<video{cls} src="{_e(rel)}" muted loop autoplay playsinline controls preload="auto"></video>')
    return f'<img{cls} src="{_e(rel)}" alt="{_e(rel)}">'


def _fmt(v: Any, digits: int = 3) -> str:
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return "-" if v is None else _e(v)


def render_html(result: dict, directory: str | os.PathLike) -> str:
    """The report page for ``result`` (the parsed ``result.json``) whose files live in ``directory``."""
    directory = Path(directory)
    fps = float(result.get("video", {}).get("fps") or result.get("fps") or 8.0)
    video = result.get("video", {})
    model = result.get("model", {})
    target = result.get("target", {})
    name = Path(str(video.get("path", "clip"))).name
    title = f"vidxai: {name}"
    meta_bits = []
    if model:
        meta_bits.append(f"model <b>{_e(model.get('name', '?'))}</b> ({_e(model.get('input', ''))})")
    if target:
        meta_bits.append(f"explained class <b>{_e(target.get('name', ''))}</b> (#{_e(target.get('index', ''))}, "
                         f"p={_fmt(target.get('probability'))})")
    if video:
        meta_bits.append(f"video {_e(video.get('width'))}x{_e(video.get('height'))}, "
                         f"{_e(video.get('num_frames'))} frames at {_fmt(video.get('fps'), 2)} fps")
    clip = result.get("clip", {})
    if clip:
        meta_bits.append(f"clip {_e(clip.get('mode', ''))}, {len(clip.get('frame_indices', []))} frames explained")

    rows = []
    tgt = target.get("index")
    for p in result.get("predictions", []):
        prob = float(p.get("probability", 0.0))
        cls = ' class="target"' if p.get("index") == tgt else ""
        rows.append(f'<tr{cls}><td class="num">{_e(p.get("index"))}</td><td>{_e(p.get("name"))}</td>'
                    f'<td class="num">{prob:.3f}</td>'
                    f'<td><span class="bar" style="width:{200 * prob:.0f}px"></span></td></tr>')
    predictions = ("<table><tr><th>#</th><th>class</th><th>probability</th><th></th></tr>" + "".join(rows) + "</table>"
                   if rows else "<p>No predictions recorded.</p>")

    cards, score_rows, num_videos = [], [], 0
    for m in result.get("methods", []):
        desc = f"<p>{_e(m['description'])}</p>" if m.get("description") else ""
        scores = []
        for key, label in (("deletion_auc", "deletion AUC"), ("insertion_auc", "insertion AUC")):
            if m.get(key) is not None:
                scores.append(f"{label} {_fmt(m[key])}")
        if m.get("on_target") is not None:
            scores.append(f"{100 * m['on_target']:.0f}% on the ground truth")
        if m.get("timing_s") is not None:
            scores.append(f"{_fmt(m['timing_s'], 2)} s")
        if m.get("overlay"):
            num_videos += m["overlay"].lower().endswith(VIDEO_SUFFIXES)
            cards.append(f'<div class="card"><h3>{_e(m.get("name"))}</h3>{desc}{media(directory, m["overlay"], fps)}'
                         f'<p>{" &middot; ".join(scores)}</p></div>')
        if m.get("boundaries"):  # segment methods: the supervoxel borders get their own card
            num_videos += m["boundaries"].lower().endswith(VIDEO_SUFFIXES)
            n_seg = f"<p>{m['num_segments']} segments, borders in white</p>" if m.get("num_segments") else ""
            cards.append(f'<div class="card"><h3>{_e(m.get("name"))} supervoxels</h3>{n_seg}'
                         f'{media(directory, m["boundaries"], fps)}</div>')
        score_rows.append(f"<tr><td>{_e(m.get('name'))}</td><td class='num'>{_fmt(m.get('deletion_auc'))}</td>"
                          f"<td class='num'>{_fmt(m.get('insertion_auc'))}</td>"
                          f"<td class='num'>{_fmt(m.get('combined'))}</td>"
                          f"<td class='num'>{_fmt(m.get('timing_s'), 2)}</td></tr>")

    outputs = result.get("outputs", {})
    grid_html = ""
    if outputs.get("grid"):
        grid_html = f'<h2>All methods side by side</h2><div class="wide">{media(directory, outputs["grid"], fps)}</div>'
        num_videos += outputs["grid"].lower().endswith(VIDEO_SUFFIXES)
    curves_html = ""
    if outputs.get("curves"):
        curves_html = (f'<h2>Deletion and insertion curves</h2><div class="wide">'
                       f'<img src="{_e(outputs["curves"])}" alt="deletion and insertion curves"></div>')
    scores_html = ""
    if score_rows:
        scores_html = ("<h2>Scores</h2><table><tr><th>method</th><th>deletion AUC &darr;</th>"
                       "<th>insertion AUC &uarr;</th><th>deletion + 1 - insertion &darr;</th><th>time (s)</th></tr>"
                       + "".join(score_rows) + "</table>")
    details = {k: result[k] for k in ("params", "timings", "versions", "model", "clip") if k in result}
    from .. import __version__

    template = Template(resources.files(__package__).joinpath(REPORT_FILE).read_text(encoding="utf-8"))
    return template.safe_substitute(
        version=_e(__version__), title=_e(title), meta=" &middot; ".join(meta_bits), predictions=predictions,
        cards="\n".join(cards), grid=grid_html, curves=curves_html, scores=scores_html,
        details=_e(json.dumps(details, indent=2, default=str)), num_videos=num_videos,
    )


def write_report(directory: str | os.PathLike, result: dict | None = None, filename: str = REPORT_FILE) -> Path:
    """Write ``directory/report.html`` from ``result`` (default: ``directory/result.json``); returns its path."""
    directory = Path(directory)
    if result is None:
        path = directory / RESULT_FILE
        if not path.is_file():
            raise InputError(f"no {RESULT_FILE} in {directory}: run `vidxai explain VIDEO --out {directory}` first")
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise InputError(f"cannot read {path}: {e}") from None
    out = directory / filename
    out.write_text(render_html(result, directory), encoding="utf-8")
    return out


__all__ = ["write_report", "render_html", "media", "RESULT_FILE", "REPORT_FILE"]
