"""vidxai.core: the shared building blocks behave as the copies they replaced."""
from __future__ import annotations

import pytest
import torch

from vidxai.core import (Timer, atomic_write, blur_frames, check_choice, check_device, gaussian_blur, minmax_per_clip,
                         model_state, resolve_device, to_jsonable)
from vidxai.errors import InputError, UnknownNameError


def test_minmax_per_clip_each_clip_on_its_own():
    x = torch.stack([torch.arange(8.0).view(2, 4), torch.full((2, 4), 3.0)])
    out = minmax_per_clip(x)
    assert out.shape == x.shape
    assert out[0].min() == 0 and out[0].max() == 1
    assert torch.equal(out[1], torch.zeros(2, 4))  # constant clip -> 0
    assert torch.equal(minmax_per_clip(x, eps=0)[1], torch.zeros(2, 4))  # exact range, constant still 0


def test_the_two_blurs_keep_their_names_and_old_homes():
    from vidxai.attribution.gradient import gaussian_blur as per_axis
    from vidxai.metrics.deletion import gaussian_blur as frames

    x = torch.rand(1, 2, 3, 9, 9, generator=torch.Generator().manual_seed(0))
    assert frames is blur_frames
    assert torch.equal(per_axis(x, (1.0, 1.5, 1.5)), gaussian_blur(x, (1.0, 1.5, 1.5)))
    assert torch.equal(blur_frames(x, 0), x)
    with pytest.raises(InputError):
        gaussian_blur(x, (-1.0, 1.0, 1.0))


def test_check_choice_suggests_close_names():
    assert check_choice("voxel", ("voxel", "grid")) == "voxel"
    with pytest.raises(UnknownNameError, match="did you mean 'voxel'"):
        check_choice("voxle", ("voxel", "grid"), hint="deletion mode")


def test_atomic_write_replaces_whole_file_and_cleans_up(tmp_path):
    path = tmp_path / "sub" / "a.bin"
    assert atomic_write(path, lambda f: f.write(b"one")) == path
    with pytest.raises(RuntimeError):
        atomic_write(path, lambda f: (f.write(b"half"), (_ for _ in ()).throw(RuntimeError("boom"))))
    assert path.read_bytes() == b"one"
    assert [p.name for p in path.parent.iterdir()] == ["a.bin"]


def test_model_state_restores_flags():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout())
    net.train()
    net[1].eval()
    with model_state(net):
        assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert net.training and not net[1].training and all(p.requires_grad for p in net.parameters())


def test_devices_timer_and_json():
    assert resolve_device("cpu") == torch.device("cpu")
    assert check_device("cpu") == "cpu" and check_device(None) is None
    with pytest.raises(InputError):
        check_device("gpu")
    with Timer("cpu") as t:
        pass
    assert t.seconds >= 0
    assert to_jsonable({1: torch.tensor([1.5]), "b": (2, None)}) == {"1": [1.5], "b": [2, None]}
