"""vidsum.features: GoogLeNet pool5 network, weights loading, decoding a generated video.

The network tests run everywhere; the decoding tests need PyAV (``vidsum[video]``) and skip
with the reason when it is not installed.
"""

import socket

import numpy as np
import pytest
import torch

from vidsum import features as vf
from vidsum.models.trsum import n_parameters


def _needs_av():
    return pytest.importorskip("av", reason="PyAV not installed (pip install 'vidsum[video]'): decoding test skipped")


@pytest.fixture(scope="module")
def net():
    return vf.load_googlenet(random_init=True, seed=0)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test loudly."""

    def refuse(*args, **kwargs):
        raise AssertionError("tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# --------------------------------------------------------------------------- network


def test_pool5_shape_range_and_eval_mode(net):
    x = torch.rand(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = net(x)
    assert out.shape == (2, vf.FEATURE_DIM) and out.dtype == torch.float32
    assert torch.isfinite(out).all() and (out >= 0).all()  # ReLU then average pooling
    assert out.std() > 0 and not net.training
    assert not torch.allclose(out[0], out[1])


def test_pool5_rejects_bad_input(net):
    with pytest.raises(ValueError, match=r"expected \(B, 3, H, W\)"):
        net(torch.rand(1, 1, 224, 224))


def test_layer_names_and_size_match_torchvision(net):
    keys = set(net.state_dict())
    for k in ("conv1.conv.weight", "conv1.bn.running_var", "conv3.conv.weight", "inception3a.branch2.1.conv.weight",
              "inception4e.branch3.1.bn.bias", "inception5b.branch4.1.conv.weight"):
        assert k in keys
    assert not any(k.startswith(("aux1", "aux2", "fc.")) for k in keys)
    # torchvision's googlenet has 6,624,904 parameters, of which fc (1024 x 1000 + 1000) is 1,025,000.
    assert n_parameters(net) == 6_624_904 - 1_025_000
    assert net.state_dict()["inception4e.branch3.1.conv.weight"].shape == (128, 32, 3, 3)  # torchvision's 3x3


def test_random_init_is_seeded_and_leaves_global_rng_alone():
    before = torch.get_rng_state()
    a, b = vf.load_googlenet(random_init=True, seed=3), vf.load_googlenet(random_init=True, seed=3)
    c = vf.load_googlenet(random_init=True, seed=4)
    assert torch.equal(torch.get_rng_state(), before)
    w = "inception4a.branch1.conv.weight"
    assert torch.equal(a.state_dict()[w], b.state_dict()[w])
    assert not torch.equal(a.state_dict()[w], c.state_dict()[w])


def _torchvision_like_file(path, model):
    """A state dict as torchvision saves it: trunk + aux heads + fc."""
    state = dict(model.state_dict())
    state["aux1.fc2.weight"] = torch.zeros(1000, 1024)
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 1024), torch.zeros(1000)
    torch.save(state, path)
    return path


def test_load_weights_from_file_ignores_aux_and_fc(tmp_path, net):
    path = _torchvision_like_file(tmp_path / "g.pth", vf.load_googlenet(random_init=True, seed=1))
    loaded = vf.load_googlenet(path)
    w = "inception5b.branch2.1.conv.weight"
    assert torch.equal(loaded.state_dict()[w], vf.load_googlenet(random_init=True, seed=1).state_dict()[w])
    assert not torch.equal(loaded.state_dict()[w], net.state_dict()[w]) and not loaded.training


def test_load_weights_from_torchvision_cache(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    expected = tmp_path / "torch" / "hub" / "checkpoints" / vf.GOOGLENET_FILE
    assert vf.default_weights_path() == expected
    expected.parent.mkdir(parents=True)
    _torchvision_like_file(expected, vf.load_googlenet(random_init=True, seed=2))
    assert isinstance(vf.load_googlenet(), vf.GoogLeNetPool5)


def test_missing_weights_is_a_clear_error_without_download(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="never downloads") as e:
        vf.load_googlenet()
    assert str(tmp_path / "empty") in str(e.value) and "--weights" in str(e.value)
    with pytest.raises(FileNotFoundError, match="GoogLeNet weights not found"):
        vf.load_googlenet(tmp_path / "nope.pth")


def test_bad_weights_files(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_text("not torch")
    with pytest.raises(ValueError, match="not a torch state dict"):
        vf.load_googlenet(junk)
    partial = tmp_path / "partial.pth"
    torch.save({"conv1.conv.weight": torch.zeros(64, 3, 7, 7)}, partial)
    with pytest.raises(ValueError, match="trunk tensors missing"):
        vf.load_googlenet(partial)
    state = vf.load_googlenet(random_init=True).state_dict()
    state["conv1.conv.weight"] = torch.zeros(32, 3, 7, 7)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(ValueError, match=r"shapes differ: conv1.conv.weight \(32, 3, 7, 7\)"):
        vf.load_googlenet(tmp_path / "shape.pth")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="expected a state dict"):
        vf.load_googlenet(tmp_path / "list.pth")
    with pytest.raises(ValueError, match="not both"):
        vf.load_googlenet(junk, random_init=True)


# --------------------------------------------------------------------------- frames


def test_frame_step():
    assert vf.frame_step(30.0) == 15 and vf.frame_step(25.0) == 12 and vf.frame_step(29.97) == 15
    assert vf.frame_step(1.0) == 1  # never 0
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="fps must be a positive number"):
            vf.frame_step(bad)
    with pytest.raises(ValueError, match="sample_fps"):
        vf.frame_step(30.0, 0.0)


def test_resized_size_and_center_crop():
    assert vf.resized_size(1920, 1080) == (455, 256)
    assert vf.resized_size(64, 96) == (256, 384)
    img = np.arange(300 * 260 * 3, dtype=np.int64).reshape(300, 260, 3)
    crop = vf.center_crop(img)
    assert crop.shape == (224, 224, 3) and crop[0, 0, 0] == img[38, 18, 0]
    with pytest.raises(ValueError, match="smaller than the 224x224 crop"):
        vf.center_crop(np.zeros((100, 300, 3)))


def test_preprocess_scales_to_unit_range():
    frames = [np.full((256, 300, 3), 255, np.uint8), np.zeros((256, 256, 3), np.uint8)]
    x = vf.preprocess(frames)
    assert x.shape == (2, 3, 224, 224) and x.dtype == torch.float32
    assert float(x[0].min()) == 1.0 and float(x[1].max()) == 0.0


def test_missing_decoder_is_a_clear_import_error(monkeypatch, tmp_path):
    monkeypatch.setitem(__import__("sys").modules, "av", None)  # import av -> ImportError
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    with pytest.raises(vf.MissingVideoDecoder, match=r"pip install 'vidsum\[video\]'"):
        vf.VideoReader(video)


# --------------------------------------------------------------------------- decoding (PyAV)


def test_generated_video_decodes_to_2fps_features(tmp_path, net):
    _needs_av()
    path = tmp_path / "shots.mp4"
    n = vf.write_test_video(path, shot_seconds=1.0, fps=30.0, size=(96, 64))
    assert n == 120
    reader = vf.VideoReader(path)
    assert (reader.fps, reader.width, reader.height) == (30.0, 96, 64)
    out = vf.extract_features(path, net, batch_size=3)  # 8 steps: batches of 3, 3, 2
    np.testing.assert_array_equal(out.picks, np.arange(0, 120, 15))
    assert out.n_frames == 120 and out.fps == 30.0
    assert out.features.shape == (8, 1024) and out.features.dtype == np.float32
    assert np.isfinite(out.features).all() and (out.features >= 0).all()
    # Two steps per 1-s colour shot: steps of the same shot are closer than steps of different shots.
    f = out.features / np.linalg.norm(out.features, axis=1, keepdims=True)
    cos = f @ f.T
    shot = np.arange(8) // 2
    same = cos[(shot[:, None] == shot[None, :]) & ~np.eye(8, dtype=bool)].mean()
    other = cos[shot[:, None] != shot[None, :]].mean()
    assert same > other


def test_frames_keep_and_resize(tmp_path):
    _needs_av()
    path = tmp_path / "v.mp4"
    vf.write_test_video(path, colors=[(255, 0, 0)], shot_seconds=0.5, fps=10.0, size=(33, 21))
    reader = vf.VideoReader(path)
    assert (reader.width, reader.height) == (32, 20)  # cut to even sizes for yuv420p
    got = list(reader.frames(keep=lambda i: i % 2 == 0, size=(40, 30)))
    assert [i for i, _ in got] == [0, 2, 4] and reader.n_frames == 5
    assert got[0][1].shape == (30, 40, 3) and got[0][1].dtype == np.uint8
    assert got[0][1][..., 0].mean() > 150 and got[0][1][..., 2].mean() < 100  # red survives encoding


def test_video_reader_errors(tmp_path):
    _needs_av()
    with pytest.raises(FileNotFoundError, match="video not found"):
        vf.VideoReader(tmp_path / "missing.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_text("this is not a video")
    with pytest.raises(ValueError, match="cannot be read as a video"):
        vf.VideoReader(bad)
    with pytest.raises(ValueError, match="no frames to write"):
        vf.write_video(tmp_path / "empty.mp4", iter([]), 30.0)
    assert not (tmp_path / "empty.mp4").exists() and not list(tmp_path.glob(".empty*"))
    with pytest.raises(ValueError, match="at least one shot colour"):
        vf.write_test_video(tmp_path / "x.mp4", colors=[])
