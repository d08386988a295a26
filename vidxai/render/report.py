"""A static, self-contained HTML report of one ``vidxai explain`` output folder.

The page (``report.html`` next to ``result.json``) only uses relative links to the files in the folder, so the
folder can be moved, zipped or served as is (no CDN: styles and script are inline). It plays the overlay videos
side by side (shared Play/Pause that also drives GIFs and PNG-frame folders), draws a per-frame importance
timeline under each one (its marker follows the video), a colour bar with each method's display scaling and
curve protocol, the method grid, the deletion/insertion curves, the top-k predictions (and per window for
``--clip all``) and the scores; the layout reflows down to phone width.
It reads the folder's record through :class:`vidxai.result.ExplainResult`.
"""
from __future__ import annotations

import html
import json
import math
import os
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from ..core.runtime import atomic_write
from ..errors import InputError
from ..result import RESULT_FILE, ExplainResult, MethodResult

REPORT_FILE = "report.html"
VIDEO_SUFFIXES = (".mp4", ".webm", ".m4v")


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def media(directory: Path, rel: str, fps: float = 8.0, css_class: str = "") -> str:
    """The HTML element showing the output ``rel`` (a video, a GIF or a folder of PNG frames).

    Every element gets the ``anim`` class so the page's Play/Pause drives it: videos natively, GIFs by
    freezing the current frame on a canvas, PNG folders through a small JS frame player (``data-frames``).
    """
    classes = " ".join(c for c in (css_class, "anim") if c)
    if rel.endswith("/") or (directory / rel).is_dir():
        frames = sorted(p.name for p in (directory / rel).glob("*.png"))
        srcs = [f"{rel.rstrip('/')}/{f}" for f in frames]
        first = srcs[0] if srcs else ""
        return (f'<img class="{classes} frames" src="{_e(first)}" alt="{_e(rel)}" data-fps="{fps:g}" '
                f"data-frames='{_e(json.dumps(srcs))}'>")
    if rel.lower().endswith(VIDEO_SUFFIXES):
        return (f'<video class="{classes}" src="{_e(rel)}" muted loop autoplay playsinline controls '
                f'preload="auto"></video>')
    kind = " gif" if rel.lower().endswith(".gif") else ""
    return f'<img class="{classes}{kind}" src="{_e(rel)}" alt="{_e(rel)}" data-fps="{fps:g}">'


def _fmt(v: Any, digits: int = 3) -> str:
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return "-" if v is None else _e(v)


def _as_result(result: ExplainResult | dict) -> ExplainResult:
    return result if isinstance(result, ExplainResult) else ExplainResult.from_dict(result)


def _meta(r: ExplainResult) -> str:
    """The line under the title: model, explained class, video and clip."""
    bits = []
    if r.model is not None:
        bits.append(f"model <b>{_e('?' if r.model.name is None else r.model.name)}</b> "
                    f"({_e('' if r.model.input is None else r.model.input)})")
    if r.target is not None:
        t = r.target
        bits.append(f"explained class <b>{_e('' if t.name is None else t.name)}</b> "
                    f"(#{_e('' if t.index is None else t.index)}, p={_fmt(t.probability)})")
    if r.video is not None:
        v = r.video
        bits.append(f"video {_e(v.width)}x{_e(v.height)}, {_e(v.num_frames)} frames at {_fmt(v.fps, 2)} fps")
    if r.clip is not None:
        bits.append(f"clip {_e(r.clip.mode or '')}, {len(r.clip.frame_indices or [])} frames explained")
    return " &middot; ".join(bits)


def _predictions(r: ExplainResult) -> str:
    tgt = r.target.index if r.target is not None else None
    rows = []
    for p in r.predictions:
        prob = float(p.probability if p.probability is not None else 0.0)
        cls = ' class="target"' if p.index == tgt else ""
        rows.append(f'<tr{cls}><td class="num">{_e(p.index)}</td><td>{_e(p.name)}</td>'
                    f'<td class="num">{prob:.3f}</td>'
                    f'<td><span class="bar" style="width:{200 * prob:.0f}px"></span></td></tr>')
    if not rows:
        return "<p>No predictions recorded.</p>"
    return "<table><tr><th>#</th><th>class</th><th>probability</th><th></th></tr>" + "".join(rows) + "</table>"


def _is_video(rel: str) -> int:
    return int(rel.lower().endswith(VIDEO_SUFFIXES))


def timeline_svg(values, frame_indices=None, label: str = "") -> str:
    """An inline SVG polyline of per-frame importance ``values`` with a current-frame marker (``.cursor``).

    The page's script moves the marker with the video (``timeupdate``) and seeks on click. Empty or
    missing values give ``""`` (old results have no timeline).

    Example::

        timeline_svg([0.1, 0.4, 0.2])  # '<svg class="timeline" ...><polyline .../>...</svg>'
    """
    vals = [float(v) for v in (values or []) if v is not None]
    if not vals:
        return ""
    finite = [v for v in vals if math.isfinite(v)] or [0.0]
    lo, hi = min(finite), max(finite)
    span = hi - lo if hi > lo else 1.0
    n = len(vals)
    xs = [1000.0 * (i + 0.5) / n for i in range(n)]
    ys = [92.0 - 84.0 * ((v if math.isfinite(v) else lo) - lo) / span for v in vals]
    pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
    first = frame_indices[0] if frame_indices else 0
    last = frame_indices[-1] if frame_indices else n - 1
    title = f"{label}: per-frame importance (frames {first} to {last})" if label else "per-frame importance"
    return (f'<svg class="timeline" viewBox="0 0 1000 100" preserveAspectRatio="none" role="img" '
            f'data-count="{n}" aria-label="{_e(title)}"><title>{_e(title)}</title>'
            f'<rect x="0" y="0" width="1000" height="100" class="tl-bg"/>'
            f'<polyline points="{pts}" class="tl-line" vector-effect="non-scaling-stroke"/>'
            f'<line class="cursor" x1="{xs[0]:.1f}" x2="{xs[0]:.1f}" y1="0" y2="100" '
            f'vector-effect="non-scaling-stroke"/></svg>')


def colorbar_html(colormap: str = "jet", normalization: str | None = None) -> str:
    """An inline colour bar (CSS gradient of the overlay's lookup table) with its end labels and caption.

    Example::

        colorbar_html("jet", "percentile:99.5")
    """
    from .colorbars import colorbar_css, colorbar_labels, colorbar_title

    try:
        css = colorbar_css(colormap)
    except Exception:  # noqa: BLE001 - an unknown colour map in an old result: show the default one
        colormap, css = "jet", colorbar_css("jet")
    low, high = colorbar_labels(normalization)
    # inline styles too, so the bar also renders outside the report (notebook cells)
    return (f'<div class="colorbar" style="margin:0.3em 0">'
            f'<div class="cb-strip" style="height:12px;border:1px solid #ccc;background: {css}"></div>'
            f'<div class="cb-labels" style="display:flex;justify-content:space-between;gap:0.5em;font-size:0.75em">'
            f'<span>{_e(low)}</span><span>{_e(colorbar_title(colormap, normalization))}</span>'
            f'<span>{_e(high)}</span></div></div>')


def _protocol(proto: dict[str, Any] | None) -> str:
    """``quick protocol: 8 steps, zero baseline, voxel`` for the AUCs' curve protocol (``""`` when unknown)."""
    if not proto:
        return ""
    bits = [f"{proto[k]} {k}" for k in ("steps", "baseline") if proto.get(k) is not None]
    if proto.get("mode"):
        bits.append(str(proto["mode"]))
    return f"{proto.get('name', 'custom')} protocol" + (f" ({', '.join(bits)})" if bits else "")


def _method_cards(m: MethodResult, directory: Path, fps: float, colormap: str = "jet",
                  frame_indices: list[int] | None = None) -> tuple[list[str], int]:
    """The overlay card and (segment methods) the supervoxel card of one method, and how many are videos."""
    desc = f"<p>{_e(m.description)}</p>" if m.description else ""
    scores = [f"{label} {_fmt(v)}" for v, label in ((m.deletion_auc, "deletion AUC"),
                                                     (m.insertion_auc, "insertion AUC")) if v is not None]
    if scores and m.curve_protocol:
        scores[-1] += f" <span class='proto'>[{_e(_protocol(m.curve_protocol))}]</span>"
    if m.on_target is not None:
        scores.append(f"{100 * m.on_target:.0f}% on the ground truth")
    if m.timing_s is not None:
        scores.append(f"{_fmt(m.timing_s, 2)} s")
    title = _e(m.name)
    if m.target:
        title += f" &middot; {_e(m.target.get('name', ''))} (p={_fmt(m.target.get('probability'))})"
    bar = colorbar_html(colormap, m.normalization)
    timeline = timeline_svg(m.frame_importance, frame_indices, m.name or "")
    cards, num_videos = [], 0
    if m.overlay:
        num_videos += _is_video(m.overlay)
        cards.append(f'<div class="card"><h3>{title}</h3>{desc}<div class="player">'
                     f'{media(directory, m.overlay, fps)}{timeline}</div>{bar}'
                     f'<p class="scores">{" &middot; ".join(scores)}</p></div>')
    if m.boundaries:  # segment methods: the supervoxel borders get their own card
        num_videos += _is_video(m.boundaries)
        n_seg = f"<p>{m.num_segments} segments, borders in white</p>" if m.num_segments else ""
        cards.append(f'<div class="card"><h3>{_e(m.name)} supervoxels</h3>{n_seg}<div class="player">'
                     f'{media(directory, m.boundaries, fps)}{timeline}</div></div>')
    return cards, num_videos


def _window_predictions(r: ExplainResult) -> str:
    """Per-window top predictions of ``--clip all`` (``clip.window_predictions``) as a table; ``""`` if none."""
    windows = (r.clip.window_predictions if r.clip is not None else None) or []
    rows = []
    for w in windows:
        frames = w.get("frames") or ["?", "?"]
        preds = w.get("predictions") or []
        cells = ", ".join(f"{_e(p.get('name'))} <span class='num'>{_fmt(p.get('probability'))}</span>"
                          for p in preds[:3])
        rows.append(f"<tr><td class='num'>{_e(frames[0])}&ndash;{_e(frames[-1])}</td><td>{cells}</td></tr>")
    if not rows:
        return ""
    return ("<h2>Predictions per window</h2><div class='scroll'><table class='windows'><tr><th>frames</th>"
            "<th>top predictions (probability)</th></tr>" + "".join(rows) + "</table></div>")


def _scores(methods: list[MethodResult]) -> str:
    rows = [f"<tr><td>{_e(m.name)}</td><td class='num'>{_fmt(m.deletion_auc)}</td>"
            f"<td class='num'>{_fmt(m.insertion_auc)}</td><td class='num'>{_fmt(m.combined)}</td>"
            f"<td>{_e(_protocol(m.curve_protocol)) or '-'}</td><td>{_e(m.normalization or '-')}</td>"
            f"<td class='num'>{_fmt(m.timing_s, 2)}</td></tr>" for m in methods]
    if not rows:
        return ""
    return ("<h2>Scores</h2><div class='scroll'><table><tr><th>method</th><th>deletion AUC &darr;</th>"
            "<th>insertion AUC &uarr;</th><th>deletion + 1 - insertion &darr;</th><th>curves</th>"
            "<th>display scale</th><th>time (s)</th></tr>" + "".join(rows) + "</table></div>")


def _details(r: ExplainResult) -> dict[str, Any]:
    parts = {"params": r.params, "timings": r.timings, "versions": r.versions, "model": r.model, "clip": r.clip}
    return {k: (v.to_dict() if hasattr(v, "to_dict") else v) for k, v in parts.items() if v is not None}


def render_html(result: ExplainResult | dict, directory: str | os.PathLike) -> str:
    """The report page for ``result`` (an :class:`~vidxai.result.ExplainResult` or the parsed ``result.json``)
    whose files live in ``directory``.

    Example::

        page = render_html(ExplainResult.load("out/"), "out/")
    """
    directory = Path(directory)
    r = _as_result(result)
    video_fps = r.video.fps if r.video is not None else None
    fps = float(r.fps or video_fps or 8.0)
    name = Path(str(r.video.path if r.video is not None and r.video.path is not None else "clip")).name
    colormap = str((r.params or {}).get("colormap") or "jet")
    frame_indices = list(r.clip.frame_indices) if r.clip is not None and r.clip.frame_indices else None
    cards, num_videos = [], 0
    for m in r.methods:
        c, n = _method_cards(m, directory, fps, colormap, frame_indices)
        cards += c
        num_videos += n
    grid_html = curves_html = ""
    if r.outputs.get("grid"):
        grid = media(directory, r.outputs["grid"], fps)
        grid_html = f'<h2>All methods side by side</h2><div class="wide">{grid}</div>'
        num_videos += _is_video(r.outputs["grid"])
    if r.outputs.get("curves"):
        curves_html = (f'<h2>Deletion and insertion curves</h2><div class="wide">'
                       f'<img src="{_e(r.outputs["curves"])}" alt="deletion and insertion curves"></div>')
    from .. import __version__

    template = Template(resources.files(__package__).joinpath(REPORT_FILE).read_text(encoding="utf-8"))
    return template.safe_substitute(
        version=_e(__version__), title=_e(f"vidxai: {name}"), meta=_meta(r), predictions=_predictions(r),
        window_predictions=_window_predictions(r), cards="\n".join(cards), grid=grid_html, curves=curves_html,
        scores=_scores(r.methods), details=_e(json.dumps(_details(r), indent=2, default=str)),
        num_videos=num_videos,
    )


def write_report(directory: str | os.PathLike, result: ExplainResult | dict | None = None,
                 filename: str = REPORT_FILE) -> Path:
    """Write ``directory/report.html`` from ``result`` (default: ``directory/result.json``); returns its path.

    Example::

        write_report("out/")  # after `vidxai explain clip.mp4 --out out/`
    """
    directory = Path(directory)
    if result is None:
        path = directory / RESULT_FILE
        if not path.is_file():
            raise InputError(f"no {RESULT_FILE} in {directory}: run `vidxai explain VIDEO --out {directory}` first")
        result = ExplainResult.load(path)
    text = render_html(result, directory)
    return atomic_write(directory / filename, lambda f: f.write(text.encode("utf-8")))


__all__ = ["write_report", "render_html", "media", "timeline_svg", "colorbar_html", "RESULT_FILE", "REPORT_FILE"]
