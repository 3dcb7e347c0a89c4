"""Summarize one video with a trained model of any method: ``vidsum summarize``.

    input (video | .npy | .h5) --features--> (n_steps, D) + picks (frame of each step)
      --shots: the file's change points, else KTS on the features--> (n_shots, 2) frame ranges
      --the method's scorer (TR-SUM: sequential + dilated segments)--> step scores (n_steps,)
      --keyshot knapsack, 15% of the frames--> selected shots
      --> <out>/summary.json, <out>/summary.png [, <out>/summary.mp4, <out>/features.h5]

Inputs
    video file   decoded at 2 fps, GoogLeNet pool5 (``vidsum.features``, extra ``vidsum[video]``);
                 the features are also written to ``<out>/features.h5`` so a re-run skips them.
    .npy         (n_steps, D) float features, one step every 0.5 s (eccv16's 2 steps/s).
    .h5          either a plain file with a root ``features`` dataset (optional ``picks``,
                 ``n_frames``, ``fps``: what ``<out>/features.h5`` holds), or an eccv16 file:
                 one video group (``--video-key`` when the file holds several) with its
                 ``picks``, ``n_frames`` and ``change_points``; its ``user_summary`` mean is
                 stored as the human reference for the picture.

Frames and times. A video's frames are real frame numbers at its fps. A bare feature file has
no frames: without ``fps`` its "frames" are the steps themselves (``frame_unit='step'``) and
times assume 2 steps/s; with ``fps`` each step stands for ``round(fps / 2)`` frames. An eccv16
group has real frame numbers; its fps is taken as 2 x the median pick spacing unless given.
Every time range is [first_frame / fps, (last_frame + 1) / fps) seconds.

Checkpoint. The scored model of any method from ``vidsum train --checkpoint-dir`` (TR-SUM
``summarizer.pt``, SG-VS ``generator.pt``, DR-DSN ``dsn.pt``) or a Tune checkpoint's
``state.pt``; its kind says which method (``vidsum.training.methods``). The feature dimension it
was trained on must equal the input's; the segment length comes from its config. The label-free
value of the chosen summary is reported when the method can compute it: TR-SUM needs
``--generator generator.pt`` (how well the frozen generator rebuilds the video from it). SG-VS
scores a video with its text: ``--title`` for a video it was not trained with.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from vidsum import __version__, progress
from vidsum.data.eccv16 import Video, natural_key, read_attrs, read_file
from vidsum.evaluation.summary import keyshot_summary, shot_scores, step_to_frame_scores
from vidsum.features import SAMPLE_FPS, frame_step
from vidsum.shots import shots_from_features
from vidsum.training.checkpoint import load_checkpoint

FEATURE_SUFFIXES = (".npy", ".h5", ".hdf5")
SUMMARY_JSON, SUMMARY_PNG, SUMMARY_CLIP, FEATURES_H5 = "summary.json", "summary.png", "summary.mp4", "features.h5"
KTS_PROGRESS_DELAY_S = 2.0  # KTS shows progress only on inputs long enough to take this long


@dataclass
class StepInput:
    """What gets scored.

    features:      (n_steps, D) float32
    picks:         (n_steps,) int64 frame (in ``frame_unit``) of each step, strictly increasing
    n_frames:      frames (in ``frame_unit``) the steps cover
    fps:           frames per second of ``frame_unit``
    fps_source:    'video' | 'file' | 'given' | 'assumed'
    frame_unit:    'frame' (real frame numbers) | 'step' (a bare feature file without fps)
    change_points: (n_shots, 2) inclusive frame ranges from the file, or None (KTS decides)
    human_mean:    (n_steps,) fraction of annotators whose summary holds each step, or None
    kind:          'video' | 'npy' | 'h5' | 'eccv16'
    """

    features: np.ndarray
    picks: np.ndarray
    n_frames: int
    fps: float
    fps_source: str
    frame_unit: str
    kind: str
    path: str
    key: str | None = None
    name: str | None = None
    change_points: np.ndarray | None = None
    human_mean: np.ndarray | None = None
    attrs: dict[str, str] | None = None

    @property
    def n_steps(self) -> int:
        return int(self.features.shape[0])

    @property
    def feature_dim(self) -> int:
        return int(self.features.shape[1])


# --------------------------------------------------------------------------- inputs


def _check_step_features(source: str, x: Any) -> np.ndarray:
    """(n_steps, D) finite float32 copy or ValueError naming ``source``."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{source}: features must be a non-empty 2-d (n_steps, D) array, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"{source}: features must be real numbers, got dtype {x.dtype}")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{source}: features hold {int(np.count_nonzero(~np.isfinite(x)))} NaN/inf values")
    return x


def _check_fps(fps: float | None) -> float | None:
    if fps is None:
        return None
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return float(fps)


def _bare_steps(source: str, features: np.ndarray, fps: float | None, kind: str) -> StepInput:
    """A feature sequence with no frames: steps 2/s, frames = steps (or round(fps/2) per step)."""
    n = features.shape[0]
    if fps is None:
        return StepInput(features, np.arange(n, dtype=np.int64), n, SAMPLE_FPS, "assumed", "step", kind, source)
    step = frame_step(fps)
    return StepInput(features, np.arange(n, dtype=np.int64) * step, n * step, fps, "given", "frame", kind, source)


def _load_npy(path: Path, fps: float | None) -> StepInput:
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise ValueError(f"{path}: not a numpy .npy array ({e})") from e
    return _bare_steps(str(path), _check_step_features(str(path), arr), fps, "npy")


def _load_plain_h5(path: Path, f: h5py.File, fps: float | None) -> StepInput:
    """Root ``features`` (+ optional ``picks``, ``n_frames``, ``fps``), e.g. <out>/features.h5."""
    feats = _check_step_features(f"{path}/features", f["features"][()])
    if "picks" not in f:
        return _bare_steps(str(path), feats, fps, "h5")
    picks = np.asarray(f["picks"][()]).astype(np.int64).reshape(-1)
    if "n_frames" not in f:
        raise ValueError(f"{path}: has 'picks' but no 'n_frames'")
    n_frames = int(np.asarray(f["n_frames"][()]).reshape(-1)[0])
    if picks.shape[0] != feats.shape[0]:
        raise ValueError(f"{path}: picks has {picks.shape[0]} entries for {feats.shape[0]} feature steps")
    if picks.min() < 0 or picks.max() >= n_frames or np.any(np.diff(picks) <= 0):
        raise ValueError(f"{path}: picks must be strictly increasing frame indices in [0, {n_frames})")
    if fps is not None:
        source = "given"
    elif "fps" in f:
        fps, source = _check_fps(float(np.asarray(f["fps"][()]).reshape(-1)[0])), "file"
    else:
        fps, source = _fps_from_picks(picks), "assumed"
    return StepInput(feats, picks, n_frames, fps, source, "frame", "h5", str(path))


def _fps_from_picks(picks: np.ndarray) -> float:
    """Frame rate if the steps are 2 per second: 2 x the median pick spacing (30 for eccv16)."""
    spacing = float(np.median(np.diff(picks))) if picks.shape[0] > 1 else 15.0
    return SAMPLE_FPS * spacing


def _load_eccv16(path: Path, groups: list[str], key: str | None, fps: float | None) -> StepInput:
    if key is None:
        if len(groups) != 1:
            shown = ", ".join(groups[:5]) + (", ..." if len(groups) > 5 else "")
            raise ValueError(f"{path}: holds {len(groups)} videos ({shown}); choose one with --video-key")
        key = groups[0]
    elif key not in groups:
        shown = ", ".join(groups[:5]) + (", ..." if len(groups) > 5 else "")
        raise KeyError(f"{path}: no video {key!r} (has {shown})")
    video = read_file(path, keys=[key])[key]  # validates the schema (SchemaError is a ValueError)
    human = video.user_summary.astype(np.float64).mean(0)[video.picks]
    fps_value, source = (fps, "given") if fps is not None else (_fps_from_picks(video.picks), "assumed")
    return StepInput(video.features, video.picks, video.n_frames, fps_value, source, "frame", "eccv16", str(path),
                     key=key, name=video.video_name, change_points=video.change_points, human_mean=human,
                     attrs=read_attrs(path))


def load_features_file(path: str | os.PathLike, *, key: str | None = None, fps: float | None = None) -> StepInput:
    """A .npy or .h5 features file as a :class:`StepInput` (see the module docstring)."""
    path = Path(path)
    fps = _check_fps(fps)
    if not path.is_file():
        raise FileNotFoundError(f"input not found: {path}")
    if path.suffix.lower() == ".npy":
        if key is not None:
            raise ValueError("--video-key applies to .h5 files only")
        return _load_npy(path, fps)
    if path.suffix.lower() not in (".h5", ".hdf5"):
        raise ValueError(f"{path}: expected a video or a features file ({', '.join(FEATURE_SUFFIXES)})")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{path}: not an HDF5 file ({e})") from e
    with f:
        if isinstance(f.get("features"), h5py.Dataset):
            if key is not None:
                raise ValueError(f"{path}: a plain features file (root 'features'); --video-key does not apply")
            return _load_plain_h5(path, f, fps)
        groups = sorted((k for k in f.keys() if isinstance(f[k], h5py.Group)), key=natural_key)
    if not groups:
        raise ValueError(f"{path}: neither a root 'features' dataset nor eccv16 video groups")
    return _load_eccv16(path, groups, key, fps)


def load_video_input(path: str | os.PathLike, *, weights: str | os.PathLike | None = None,
                     sample_fps: float = SAMPLE_FPS, batch_size: int = 16) -> StepInput:
    """Decode a video and compute GoogLeNet pool5 features (needs ``vidsum[video]`` and weights)."""
    from vidsum.features import extract_features, load_googlenet

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input not found: {path}")
    model = load_googlenet(weights)  # before decoding: a missing weights file fails fast
    vf = extract_features(path, model, sample_fps=sample_fps, batch_size=batch_size)
    return StepInput(vf.features, vf.picks, vf.n_frames, vf.fps, "video", "frame", "video", str(path), name=path.name)


def is_features_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in FEATURE_SUFFIXES


# --------------------------------------------------------------------------- checkpoints


def _model_dim(ckpt: dict, path: Path) -> int:
    config = ckpt.get("model_config")
    if not isinstance(config, dict) or "d_feat" not in config:
        raise ValueError(f"{path}: checkpoint has no model_config with d_feat")
    return int(config["d_feat"])


def check_feature_dim(ckpt: dict, path: str | os.PathLike, feature_dim: int, input_name: str) -> None:
    """ValueError naming both dimensions when the input's features do not fit the checkpoint."""
    trained = _model_dim(ckpt, Path(path))
    if trained != feature_dim:
        meta = ckpt.get("meta") or {}
        what = ", ".join(f"{k} {meta[k]}" for k in ("dataset", "features") if k in meta)
        raise ValueError(f"feature dimension mismatch: {input_name} has {feature_dim}-d features but {path} was "
                         f"trained on {trained}-d features{f' ({what})' if what else ''}")


@dataclass
class LoadedModel:
    """A model read from a checkpoint, with what the registry knows about it.

    method: the :class:`~vidsum.training.methods.Method` whose stage wrote it
    stage:  that stage; model: the rebuilt module (CPU, eval mode); ckpt: the checkpoint dict
    cfg:    the method's config from the checkpoint's ``meta.config``
    """

    method: Any
    stage: Any
    model: torch.nn.Module
    ckpt: dict
    cfg: Any


def _load_model(path: Path, want: str) -> LoadedModel:
    """Any method's checkpoint at ``path``; ``want`` names the flag it was given to (error hints)."""
    from vidsum.training.methods import find_kind

    ckpt = load_checkpoint(path)
    try:
        method, stage = find_kind(ckpt["kind"])
    except ValueError as e:
        raise ValueError(f"{path}: {e}; {want}") from e
    meta = ckpt.get("meta") or {}
    if "feature_dim" in meta and int(meta["feature_dim"]) != _model_dim(ckpt, path):
        raise ValueError(f"{path}: meta feature_dim {meta['feature_dim']} disagrees with the model's "
                         f"d_feat {_model_dim(ckpt, path)} (a corrupted checkpoint)")
    try:
        model = stage.load(ckpt)
    except (RuntimeError, ValueError, TypeError, KeyError) as e:
        raise ValueError(f"{path}: weights do not fit its model_config ({e})") from e
    try:
        cfg = method.config_cls.from_dict(meta.get("config") or {})
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: its meta.config is not a {method.name} config ({e})") from e
    return LoadedModel(method, stage, model, ckpt, cfg)


def load_scorer(path: str | os.PathLike) -> LoadedModel:
    """The frame-scoring model (the scored stage of any method: TR-SUM's summarizer.pt, SG-VS's
    generator.pt, DR-DSN's dsn.pt) in a checkpoint."""
    path = Path(path)
    hint = "--checkpoint needs the model that scores frames (summarizer.pt / generator.pt / dsn.pt from " \
           "`vidsum train --checkpoint-dir`)"
    loaded = _load_model(path, hint)
    if loaded.stage is not loaded.method.scored:
        raise ValueError(f"{path}: holds a {loaded.ckpt['kind']!r} checkpoint ({loaded.method.name}'s "
                         f"{loaded.stage.name} stage); --checkpoint needs its {loaded.method.scored.file} (kind "
                         f"{loaded.method.scored.kind!r})")
    return loaded


def load_stage_input(path: str | os.PathLike, scorer: LoadedModel) -> LoadedModel:
    """The model of a stage before ``scorer``'s (TR-SUM: the generator) in a checkpoint; the
    label-free value of a summary needs it."""
    path = Path(path)
    method = scorer.method
    earlier = method.stages[:-1]
    wanted = ", ".join(f"{s.file} (kind {s.kind!r})" for s in earlier) or "nothing: it needs no other model"
    loaded = _load_model(path, f"--generator needs {method.name}'s {wanted}")
    if loaded.method.name != method.name or loaded.stage.name not in {s.name for s in earlier}:
        raise ValueError(f"{path}: holds a {loaded.ckpt['kind']!r} checkpoint; --generator needs {method.name}'s {wanted}")
    return loaded


def _segment_len(loaded: LoadedModel, path: str | os.PathLike, override: int | None) -> int | None:
    """The segment length the scorer runs at (None for a method without segments)."""
    if not hasattr(loaded.cfg, "segment_len"):
        if override is not None:
            raise ValueError(f"{path}: a {loaded.method.name} model has no segment length to override")
        return None
    value = loaded.cfg.segment_len if override is None else override
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"segment_len must be a positive int, got {value!r}")
    max_len = int(loaded.ckpt["model_config"].get("max_len", value))
    if value > max_len:
        raise ValueError(f"segment_len {value} exceeds the model's max_len {max_len}")
    return value


# --------------------------------------------------------------------------- output


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray | torch.Tensor):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (temp file in the same folder + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, indent=1, default=_json_default, allow_nan=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_features_h5(path: str | os.PathLike, inp: StepInput) -> Path:
    """Atomically write a plain features file (features, picks, n_frames, fps) that
    :func:`load_features_file` reads back with the same frames and times."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            f["features"] = inp.features
            f["picks"] = inp.picks
            f["n_frames"] = inp.n_frames
            f["fps"] = inp.fps
            f.attrs["source"] = inp.path
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _round(values: np.ndarray, digits: int = 6) -> list[float]:
    return [round(float(v), digits) for v in values]


def _shot_rows(shots: np.ndarray, scores: np.ndarray, chosen: np.ndarray, fps: float) -> list[dict[str, Any]]:
    return [{"shot": i, "first_frame": int(a), "last_frame": int(b), "start_s": round(a / fps, 3),
             "end_s": round((b + 1) / fps, 3), "score": round(float(s), 6), "selected": bool(c)}
            for i, ((a, b), s, c) in enumerate(zip(shots, scores, chosen))]


# --------------------------------------------------------------------------- summarize


def summarize_steps(
    inp: StepInput,
    scorer: LoadedModel,
    *,
    proportion: float = 0.15,
    kts_vmax: float = 1.0,
    max_change_points: int | None = None,
    inputs: dict[str, torch.nn.Module] | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """Shots, scores and the keyshot summary of one input (no files), scored by ``scorer`` at its
    ``cfg``; ``inputs`` {earlier stage: model} for the label-free value; ``title``: the video's
    text for a method that reads one (SG-VS). Keys of the result:

    shots (n_shots, 2) inclusive frames, shots_source 'input' | 'kts', step_scores (n_steps,),
    shot_scores (n_shots,), chosen (n_shots,) bool, frames (n_frames,) uint8 summary,
    label_free_reward float | None, timing {'shots_s', 'scoring_s'}.
    """
    if not 0.0 < proportion <= 1.0:
        raise ValueError(f"proportion must be in (0, 1], got {proportion}")
    t0 = time.perf_counter()
    if inp.change_points is not None:
        shots, source = np.asarray(inp.change_points, dtype=np.int64), "input"
    else:
        # KTS is O(rounds x n_steps^2): seconds at 2000 steps, minutes on an hour of video. The
        # display only appears when it runs longer than KTS_PROGRESS_DELAY_S.
        with progress.Progress(f"KTS shots of {inp.n_steps} steps", unit="round", every_s=5.0,
                               delay_s=KTS_PROGRESS_DELAY_S) as shown:
            shots, _ = shots_from_features(inp.features, inp.picks, inp.n_frames, vmax=kts_vmax,
                                           max_change_points=max_change_points,
                                           on_round=lambda m, bound: shown.update_to(m, total=bound))
        source = "kts"
    t1 = time.perf_counter()
    # score_video and label_free_reward take a Video; the labels they do not read are blanks.
    video = Video(key=inp.key or "input", features=inp.features, gtscore=np.zeros(inp.n_steps, np.float32),
                  user_summary=np.zeros((1, inp.n_frames), np.uint8), change_points=shots,
                  n_frame_per_seg=shots[:, 1] - shots[:, 0] + 1, n_frames=inp.n_frames, picks=inp.picks)
    scores = scorer.method.score(scorer.model, video, scorer.cfg)
    frames = keyshot_summary(scores, inp.picks, shots, inp.n_frames, proportion)
    per_shot = shot_scores(step_to_frame_scores(scores, inp.picks, inp.n_frames), shots)
    chosen = frames[shots[:, 0]].astype(bool)
    if title is not None and scorer.method.add_title is not None:
        scorer.method.add_title(scorer.model, video.key, title, scorer.cfg)
    reward = scorer.method.summary_value(scorer.model, video, scorer.cfg, inputs or {}, proportion)
    t2 = time.perf_counter()
    return {"shots": shots, "shots_source": source, "step_scores": scores, "shot_scores": per_shot, "chosen": chosen,
            "frames": frames, "label_free_reward": reward, "timing": {"shots_s": t1 - t0, "scoring_s": t2 - t1}}


def _checkpoint_entry(path: str | os.PathLike, ckpt: dict) -> dict[str, Any]:
    return {"path": str(path), "kind": ckpt.get("kind"), "epoch": ckpt.get("epoch"),
            "model_config": ckpt.get("model_config"), "meta": ckpt.get("meta") or {}}


def build_summary(inp: StepInput, result: dict[str, Any], settings: dict[str, Any], checkpoint: dict[str, Any],
                  generator: dict[str, Any] | None, timing: dict[str, float]) -> dict[str, Any]:
    """The summary.json document (plain JSON values)."""
    fps = inp.fps
    shot_rows = _shot_rows(result["shots"], result["shot_scores"], result["chosen"], fps)
    n_selected_frames = int(result["frames"].sum())
    return {
        "vidsum_version": __version__,
        "input": {"path": inp.path, "kind": inp.kind, "key": inp.key, "name": inp.name, "n_steps": inp.n_steps,
                  "feature_dim": inp.feature_dim, "n_frames": inp.n_frames, "fps": fps, "fps_source": inp.fps_source,
                  "frame_unit": inp.frame_unit, "duration_s": round(inp.n_frames / fps, 3), "attrs": inp.attrs or {}},
        "settings": settings,
        "checkpoint": checkpoint,
        "generator": generator,
        "label_free_reward": result["label_free_reward"],
        "summary": {"n_shots": len(shot_rows), "n_selected_shots": int(result["chosen"].sum()),
                    "n_selected_frames": n_selected_frames,
                    "selected_fraction": round(n_selected_frames / inp.n_frames, 6),
                    "duration_s": round(n_selected_frames / fps, 3)},
        "selected_shots": [r for r in shot_rows if r["selected"]],
        "shots": shot_rows,
        "picks": inp.picks.tolist(),
        "step_times_s": _round(inp.picks / fps, 3),
        "step_scores": _round(result["step_scores"]),
        "human_mean": None if inp.human_mean is None else _round(inp.human_mean),
        "timing_s": {k: round(v, 4) for k, v in timing.items()},
    }


def summarize(
    input_path: str | os.PathLike,
    checkpoint: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    generator: str | os.PathLike | None = None,
    key: str | None = None,
    fps: float | None = None,
    proportion: float = 0.15,
    weights: str | os.PathLike | None = None,
    kts_vmax: float = 1.0,
    max_change_points: int | None = None,
    segment_len: int | None = None,
    title: str | None = None,
    clip: bool = False,
    plot: bool = True,
) -> dict[str, Any]:
    """Summarize ``input_path`` with ``checkpoint``; write summary.json (+ png, clip) in ``out_dir``.

    Returns the summary.json document plus ``'files'``: {name: path} of what was written.
    Every check that needs no heavy work (files, kinds, --clip on a features file) runs first.
    """
    t_start = time.perf_counter()
    input_path, out_dir = Path(input_path), Path(out_dir)
    video_input = not is_features_file(input_path)
    if not input_path.is_file():
        raise FileNotFoundError(f"input not found: {input_path}")
    if clip and not video_input:
        raise ValueError("--clip needs a video input (the features file has no frames to cut)")
    if video_input and (fps is not None or key is not None):
        raise ValueError("--fps and --video-key apply to features files only (a video has its own frame rate)")
    scorer = load_scorer(checkpoint)
    ckpt = scorer.ckpt
    seg_len = _segment_len(scorer, checkpoint, segment_len)
    if seg_len is not None:
        scorer.cfg = dataclasses.replace(scorer.cfg, segment_len=seg_len)
    earlier = load_stage_input(generator, scorer) if generator is not None else None
    gen_ckpt = None if earlier is None else earlier.ckpt
    if earlier is not None:
        gen_dim, summ_dim = _model_dim(gen_ckpt, Path(generator)), _model_dim(ckpt, Path(checkpoint))
        if gen_dim != summ_dim:
            raise ValueError(f"feature dimension mismatch: {earlier.stage.name} {generator} takes {gen_dim}-d features, "
                             f"{scorer.stage.name} {checkpoint} {summ_dim}-d")
    if clip:
        from vidsum.features import _import_av

        _import_av()  # fail before the features are computed

    t0 = time.perf_counter()
    if video_input:
        # Features first would waste minutes if the checkpoint cannot take 1024-d inputs.
        from vidsum.features import FEATURE_DIM

        check_feature_dim(ckpt, checkpoint, FEATURE_DIM, f"{input_path} (GoogLeNet pool5)")
        inp = load_video_input(input_path, weights=weights)
    else:
        inp = load_features_file(input_path, key=key, fps=fps)
        check_feature_dim(ckpt, checkpoint, inp.feature_dim, str(input_path))
    features_s = time.perf_counter() - t0

    result = summarize_steps(inp, scorer, proportion=proportion, kts_vmax=kts_vmax, max_change_points=max_change_points,
                             inputs=None if earlier is None else {earlier.stage.name: earlier.model}, title=title)
    settings = {"proportion": proportion, "segment_len": seg_len, "shots_source": result["shots_source"],
                "kts": {"vmax": kts_vmax, "kernel": "cosine", "max_change_points": max_change_points},
                "sample_fps": SAMPLE_FPS, "scores": "mean of sequential and dilated segment views",
                "selection": "0/1 knapsack of shots by mean frame score, capacity int(proportion * n_frames)"}
    files: dict[str, str] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    if video_input:
        files["features"] = str(write_features_h5(out_dir / FEATURES_H5, inp))
    timing = {"features_s": features_s, **result["timing"]}
    doc = build_summary(inp, result, settings, _checkpoint_entry(checkpoint, ckpt),
                        None if gen_ckpt is None else _checkpoint_entry(generator, gen_ckpt), timing)
    doc["notes"] = _notes(result, inp, proportion)
    if clip and not result["chosen"].any():
        doc["notes"].append("no clip written: the summary is empty")
    elif clip:
        from vidsum.features import VideoReader, write_video

        t_clip = time.perf_counter()
        reader = VideoReader(input_path)
        keep = result["frames"]
        with progress.Progress("writing the summary clip", inp.n_frames, unit="frame", every_s=5.0,
                               show_rate=True) as shown:
            frames = (rgb for _, rgb in reader.frames(keep=lambda i: i < keep.shape[0] and keep[i] == 1,
                                                      decoded=shown.update_to))
            write_video(out_dir / SUMMARY_CLIP, frames, inp.fps)
        files["clip"] = str(out_dir / SUMMARY_CLIP)
        doc["timing_s"]["clip_s"] = round(time.perf_counter() - t_clip, 4)
    if plot:
        from vidsum.results.plots import plot_summary

        files["png"] = str(plot_summary(doc, out_dir / SUMMARY_PNG))
    doc["timing_s"]["total_s"] = round(time.perf_counter() - t_start, 4)
    doc["files"] = {"json": str(out_dir / SUMMARY_JSON), **files}
    write_json(out_dir / SUMMARY_JSON, doc)
    return doc


def _notes(result: dict[str, Any], inp: StepInput, proportion: float) -> list[str]:
    """Plain-language warnings about the summary (stored in summary.json and printed)."""
    notes = []
    lengths = result["shots"][:, 1] - result["shots"][:, 0] + 1
    if not result["chosen"].any():
        notes.append(f"no shot fits the {100 * proportion:g}% budget: the shortest of {len(lengths)} shot(s) is "
                     f"{100 * lengths.min() / inp.n_frames:.1f}% of the video; raise --proportion, or lower "
                     f"--kts-vmax for more, shorter shots")
    if inp.fps_source == "assumed":
        notes.append(f"times assume {inp.fps:g} {'steps' if inp.frame_unit == 'step' else 'frames'}/s; "
                     f"pass --fps for the real frame rate")
    return notes


def format_summary(doc: dict[str, Any]) -> str:
    """A few lines for the terminal: what was chosen and where the files are."""
    inp, s = doc["input"], doc["summary"]
    unit = "steps" if inp["frame_unit"] == "step" else "frames"
    lines = [f"{inp['path']}: {inp['n_steps']} steps, {inp['duration_s']:.1f} s ({inp['fps']:g} {unit}/s, "
             f"{inp['fps_source']}); {s['n_shots']} shots ({doc['settings']['shots_source']})",
             f"selected {s['n_selected_shots']} shots, {s['duration_s']:.1f} s ({100 * s['selected_fraction']:.1f}%):"]
    for r in doc["selected_shots"]:
        lines.append(f"  shot {r['shot']:>3}  {unit} {r['first_frame']}-{r['last_frame']}  "
                     f"{r['start_s']:.1f}-{r['end_s']:.1f} s  score {r['score']:.3f}")
    lines += [f"note: {n}" for n in doc.get("notes", [])]
    if doc["label_free_reward"] is not None:
        lines.append(f"label-free reward {doc['label_free_reward']:.4f}")
    lines += [f"wrote {path}" for path in doc["files"].values()]
    return "\n".join(lines)
