"""Frame features for your own videos, in the eccv16 format: 2 fps, GoogLeNet pool5, 1024-d.

    video --decode, every round(fps / 2)-th frame--> RGB frames (one step every ~0.5 s)
          --shorter side to 256, centre 224 x 224 crop--> (n_steps, 3, 224, 224) in [0, 1]
          --GoogLeNet up to global average pooling (pool5)--> features (n_steps, 1024) float32

eccv16 took every 15th frame (2 steps/s at 30 fps); this takes every ``round(fps / 2)``-th,
which is the same thing at 30 fps and stays near 2 steps/s at 24 or 25 fps. Steps are frame
*indices*, so variable-frame-rate files are treated as if every frame had the same duration.

Network. ``GoogLeNetPool5`` is Inception v1 written out here with torchvision's layer names,
so torchvision's ImageNet weights (``googlenet-1378be20.pth``) load into it as they are
(torchvision itself does not import beside the pinned CPU torch). Those weights are
torchvision's port from TensorFlow, not the Caffe model the eccv16 authors used: same layer,
same size, same non-negative range, but not the same numbers. A model trained on the eccv16
files therefore sees somewhat shifted inputs on your videos; its own per-dimension
standardisation absorbs the scale, not every difference.

Weights are read from ``--weights PATH`` or torchvision's cache
(``$TORCH_HOME/hub/checkpoints/googlenet-1378be20.pth``, default ``~/.cache/torch``); nothing
is ever downloaded. Decoding needs PyAV (``pip install 'vidsum[video]'``); the network does
not, so features can be computed from frames you decode yourself.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidsum import progress

GOOGLENET_FILE = "googlenet-1378be20.pth"
# Shown in the error message only: this module never opens a network connection.
GOOGLENET_URL = f"https://download.pytorch.org/models/{GOOGLENET_FILE}"
FEATURE_DIM = 1024
SAMPLE_FPS = 2.0
RESIZE = 256  # shorter side before the crop (torchvision's ImageNet evaluation transform)
CROP = 224


class MissingVideoDecoder(ImportError):
    """PyAV is not installed (it comes with the ``video`` extra)."""


# --------------------------------------------------------------------------- network


class BasicConv2d(nn.Module):
    """conv (no bias) -> batch norm (eps 1e-3) -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **conv_kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **conv_kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """Four parallel branches concatenated on channels: 1x1 | 1x1-3x3 | 1x1-3x3 | pool-1x1.

    The third branch is 3x3 where the paper has 5x5: torchvision's weights were trained that
    way, so it is kept (their names and shapes must match).
    """

    def __init__(self, in_ch: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int,
                 pool_proj: int):
        super().__init__()
        self.branch1 = BasicConv2d(in_ch, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(BasicConv2d(in_ch, ch3x3red, kernel_size=1),
                                     BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(BasicConv2d(in_ch, ch5x5red, kernel_size=1),
                                     BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
                                     BasicConv2d(in_ch, pool_proj, kernel_size=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class GoogLeNetPool5(nn.Module):
    """GoogLeNet (Inception v1) trunk up to pool5, torchvision's layer names.

    forward(images (B, 3, H, W) float RGB in [0, 1]) -> (B, 1024) pool5 features (>= 0).
    Inputs are mapped to [-1, 1], which is what torchvision's ``transform_input=True`` does to
    ImageNet-normalised images: the range the ported weights expect. No aux heads, no fc.
    """

    def __init__(self):
        super().__init__()
        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images: expected (B, 3, H, W), got {tuple(images.shape)}")
        x = images * 2.0 - 1.0
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        for block in (self.inception4a, self.inception4b, self.inception4c, self.inception4d, self.inception4e):
            x = block(x)
        x = self.inception5b(self.inception5a(self.maxpool4(x)))
        return torch.flatten(self.avgpool(x), 1)


def default_weights_path() -> Path:
    """Where torchvision caches GoogLeNet: ``<torch.hub.get_dir()>/checkpoints/googlenet-1378be20.pth``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / GOOGLENET_FILE


def _missing_weights_message(looked_at: Path) -> str:
    return (f"GoogLeNet weights not found at {looked_at} (torchvision's cache; $TORCH_HOME moves it). "
            f"vidsum never downloads them: on a machine with network run "
            f"`mkdir -p {looked_at.parent} && curl -L -o {looked_at} {GOOGLENET_URL}` "
            f"(or let torchvision cache them once), or pass --weights PATH")


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a foreign or torn file
        raise ValueError(f"{path}: not a torch state dict ({type(e).__name__}: {e})") from e
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a state dict (parameter name -> tensor), got {type(obj).__name__}")
    return obj


def load_googlenet(weights: str | os.PathLike | None = None, *, random_init: bool = False,
                   seed: int = 0) -> GoogLeNetPool5:
    """GoogLeNetPool5 in eval mode with ImageNet weights.

    weights:     a torchvision GoogLeNet state dict file; None: :func:`default_weights_path`.
                 Extra keys (aux1.*, aux2.*, fc.*) are ignored; a missing or mis-shaped trunk
                 weight is a ValueError.
    random_init: True builds the network from ``seed`` without any file (tests, timing).
    """
    if random_init:
        if weights is not None:
            raise ValueError("give either weights or random_init=True, not both")
        with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG untouched
            torch.manual_seed(seed)
            model = GoogLeNetPool5()
            for m in model.modules():
                # He init keeps activations from fading over 22 layers, so random features
                # still tell frames apart (torch's default init shrinks them to ~1e-6).
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            return model.eval()
    if weights is None:
        path = default_weights_path()
        if not path.is_file():
            raise FileNotFoundError(_missing_weights_message(path))
    else:
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"GoogLeNet weights not found: {path}")
    state = _read_state_dict(path)
    model = GoogLeNetPool5()
    own = model.state_dict()
    # BatchNorm's step counters are not weights; old files lack them.
    needed = [k for k in own if not k.endswith("num_batches_tracked")]
    missing = [k for k in needed if k not in state]
    if missing:
        raise ValueError(f"{path}: not GoogLeNet weights: {len(missing)} of {len(needed)} trunk tensors missing "
                         f"(e.g. {', '.join(missing[:3])})")
    bad = [f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}" for k in needed if state[k].shape != own[k].shape]
    if bad:
        raise ValueError(f"{path}: GoogLeNet tensor shapes differ: {'; '.join(bad[:3])}")
    model.load_state_dict({k: state[k] for k in needed}, strict=False)
    return model.eval()


# --------------------------------------------------------------------------- decoding


def _import_av():
    try:
        import av
    except ImportError as e:
        raise MissingVideoDecoder(
            "reading videos needs PyAV: pip install 'vidsum[video]' (or use a features file: .npy / .h5)"
        ) from e
    return av


def frame_step(fps: float, sample_fps: float = SAMPLE_FPS) -> int:
    """Frames between two steps: ``max(1, round(fps / sample_fps))`` (15 at 30 fps)."""
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps}")
    if not (math.isfinite(sample_fps) and sample_fps > 0):
        raise ValueError(f"sample_fps must be a positive number, got {sample_fps}")
    return max(1, int(round(fps / sample_fps)))


def resized_size(width: int, height: int, short_side: int = RESIZE) -> tuple[int, int]:
    """(width, height) with the shorter side scaled to ``short_side``, aspect kept."""
    scale = short_side / min(width, height)
    return max(short_side, int(round(width * scale))), max(short_side, int(round(height * scale)))


def center_crop(rgb: np.ndarray, size: int = CROP) -> np.ndarray:
    """(H, W, 3) -> (size, size, 3) centre crop; H and W must be >= size."""
    h, w = rgb.shape[:2]
    if h < size or w < size:
        raise ValueError(f"frame {w}x{h} is smaller than the {size}x{size} crop")
    top, left = (h - size) // 2, (w - size) // 2
    return rgb[top : top + size, left : left + size]


class VideoReader:
    """One video file opened with PyAV: frame rate, size and a frame iterator.

    ``n_frames`` is the container's count until :meth:`frames` has run to the end, then the
    number of frames actually decoded (containers are often wrong or silent about it).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"video not found: {self.path}")
        self._av = _import_av()
        with self._open() as container:
            if not container.streams.video:
                raise ValueError(f"{self.path}: no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            if not rate or float(rate) <= 0:
                raise ValueError(f"{self.path}: the container gives no frame rate")
            self.fps = float(rate)
            self.width, self.height = int(stream.codec_context.width), int(stream.codec_context.height)
            self.n_frames = int(stream.frames or 0)
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"{self.path}: video stream has no frame size")

    def _open(self):
        try:
            return self._av.open(str(self.path))
        except self._av.error.FFmpegError as e:
            raise ValueError(f"{self.path}: cannot be read as a video ({e})") from e

    def frames(self, keep: Callable[[int], bool] | None = None, size: tuple[int, int] | None = None,
               decoded: Callable[[int], object] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(frame index, (H, W, 3) uint8 RGB) for every frame with ``keep(index)`` true.

        size: (width, height) to resize to while converting (swscale, cheap), None keeps it.
        decoded: called with the number of frames decoded so far after every frame (progress).
        Every frame is decoded (to count them); only kept ones are converted.
        """
        width, height = size if size is not None else (None, None)
        count = 0
        with self._open() as container:
            try:
                for frame in container.decode(video=0):
                    if keep is None or keep(count):
                        yield count, frame.to_ndarray(width=width, height=height, format="rgb24")
                    count += 1
                    if decoded is not None:
                        decoded(count)
            except self._av.error.FFmpegError as e:
                raise ValueError(f"{self.path}: decoding failed at frame {count} ({e})") from e
        if count == 0:
            raise ValueError(f"{self.path}: no frames could be decoded")
        self.n_frames = count


@dataclass
class VideoFeatures:
    """Step features of one video file.

    features: (n_steps, 1024) float32; picks: (n_steps,) int64 frame index of each step;
    n_frames: frames decoded; fps: the container's frame rate.
    """

    features: np.ndarray
    picks: np.ndarray
    n_frames: int
    fps: float
    path: str


def preprocess(frames: Sequence[np.ndarray]) -> torch.Tensor:
    """Resized RGB frames (H, W, 3) uint8 -> (B, 3, 224, 224) float32 in [0, 1], centre-cropped."""
    crops = np.stack([center_crop(f) for f in frames])
    return torch.from_numpy(crops).permute(0, 3, 1, 2).float().div_(255.0)


@torch.no_grad()
def extract_features(video_path: str | os.PathLike, model: GoogLeNetPool5, *, sample_fps: float = SAMPLE_FPS,
                     batch_size: int = 16) -> VideoFeatures:
    """Decode ``video_path``, keep every ``frame_step(fps, sample_fps)``-th frame, run ``model``.

    Frames stream through in batches of ``batch_size``: memory does not grow with the video.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    reader = VideoReader(video_path)
    step = frame_step(reader.fps, sample_fps)
    size = resized_size(reader.width, reader.height)
    device = next(model.parameters()).device
    model.eval()
    feats, picks, batch = [], [], []

    def flush() -> None:
        feats.append(model(preprocess(batch).to(device)).float().cpu().numpy())
        batch.clear()

    # Frames decoded / total and the rate on stderr: the network's time is in it, as it runs
    # between decoded frames.
    with progress.Progress(f"features of {Path(video_path).name}", reader.n_frames or None, unit="frame",
                           every_s=5.0, show_rate=True) as shown:
        for index, rgb in reader.frames(keep=lambda i: i % step == 0, size=size, decoded=shown.update_to):
            picks.append(index)
            batch.append(rgb)
            if len(batch) == batch_size:
                flush()
        if batch:
            flush()
        shown.update_to(reader.n_frames, total=reader.n_frames)  # the container's count may have been wrong
    return VideoFeatures(np.concatenate(feats).astype(np.float32), np.asarray(picks, dtype=np.int64),
                         reader.n_frames, reader.fps, str(video_path))


# --------------------------------------------------------------------------- writing


def _codec(av) -> str:
    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def write_video(path: str | os.PathLike, frames: Iterator[np.ndarray], fps: float) -> int:
    """Encode (H, W, 3) uint8 RGB frames to an .mp4 at ``fps``, atomically. Returns frames written.

    H and W are cut to even numbers (yuv420p needs them); no audio.
    """
    av = _import_av()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    written = 0
    try:
        with av.open(tmp, "w", format="mp4") as out:
            stream = None
            for rgb in frames:
                if stream is None:
                    h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
                    if h == 0 or w == 0:
                        raise ValueError(f"frame too small to encode: {rgb.shape}")
                    from fractions import Fraction

                    stream = out.add_stream(_codec(av), rate=Fraction(fps).limit_denominator(1001))
                    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:h, :w]), format="rgb24")
                for packet in stream.encode(frame):
                    out.mux(packet)
                written += 1
            if stream is None:
                raise ValueError("no frames to write")
            for packet in stream.encode():
                out.mux(packet)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return written


def write_test_video(path: str | os.PathLike, colors: Sequence[tuple[int, int, int]] = (
        (220, 40, 40), (40, 180, 60), (40, 60, 220), (230, 200, 40)), shot_seconds: float = 2.0,
        fps: float = 30.0, size: tuple[int, int] = (96, 64), seed: int = 0) -> int:
    """A small .mp4 of solid-colour shots with a moving bright square and mild noise.

    One shot per colour, ``shot_seconds`` each; returns the number of frames. For tests and the
    README demo: the shot changes are what KTS should find.
    """
    if not colors:
        raise ValueError("colors: need at least one shot colour")
    width, height = size
    per_shot = max(1, int(round(shot_seconds * fps)))
    rng = np.random.default_rng(seed)

    def frames() -> Iterator[np.ndarray]:
        for color in colors:
            for t in range(per_shot):
                img = np.empty((height, width, 3), dtype=np.int16)
                img[:] = color
                x = int((width - 16) * t / max(1, per_shot - 1))
                img[height // 2 - 8 : height // 2 + 8, x : x + 16] = 255
                img += rng.integers(-8, 9, size=img.shape, dtype=np.int16)
                yield np.clip(img, 0, 255).astype(np.uint8)

    return write_video(path, frames(), fps)
