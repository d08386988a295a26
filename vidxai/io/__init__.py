"""Video I/O: decode (PyAV, seeking), sample clips, prepare model input, map results back, encode.

::

    from vidxai.io import video_info, read_video, read_frames, load_clip, write_video
    info = video_info("clip.mp4")                      # codec, fps, num_frames, width, height, duration
    video = read_video("clip.mp4", start=100, end=164)  # seeks; Video(frames (T,H,W,3) uint8, fps, indices)
    clip = load_clip("clip.mp4", model.spec, clip="centre", pad=True)
    clip.tensor            # (3, T, h, w) model input
    clip.geometry.to_original(saliency)  # (T, h, w) -> (T, H0, W0) on the original frames
    write_video("out.mp4", frames, fps=info.fps)       # H.264 yuv420p, or .gif
    for window in iter_windows("long.mp4", model.spec, stride=8): ...   # bounded memory on long videos

Paths may also be folders of frame images (natural order, 25 fps).

See docs/io.md.
"""
from .clip import PreparedClip, clip_indices, iter_windows, load_clip
from .decode import Video, VideoInfo, clear_cache, read_frames, read_video, video_info
from .encode import VIDEO_SUFFIXES, available_encoders, has_encoder, write_video
from .sample import centre_indices, clip_span, range_indices, sliding_windows, start_indices, uniform_indices
from .transforms import (ClipGeometry, centre_crop, crop_box_for, denormalize, frames_to_tensor, normalize,
                         preprocess, resize_short_side, resized_size_for)

__all__ = [
    "VideoInfo", "Video", "video_info", "read_video", "read_frames", "clear_cache",
    "centre_indices", "uniform_indices", "sliding_windows", "range_indices", "start_indices", "clip_span",
    "ClipGeometry", "preprocess", "resize_short_side", "centre_crop", "normalize", "denormalize",
    "resized_size_for", "crop_box_for", "frames_to_tensor",
    "PreparedClip", "load_clip", "clip_indices", "iter_windows",
    "write_video", "available_encoders", "has_encoder", "VIDEO_SUFFIXES",
]
