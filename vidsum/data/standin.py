"""Stand-in SumMe / TVSum: the REAL human annotations with GENERATED features.

The eccv16 h5 files (GoogLeNet pool5 features) cannot be shipped, so this module builds a file in
the same schema from the shipped annotations (``vidsum.data.annotations``) and features drawn
from a documented generative model with a planted link to human importance. Results computed on
it say whether a method can recover that planted structure, nothing about real videos; every
file carries ``features=generated`` in its attributes.

Per video v (index i in annotation order) everything is drawn from numpy Generators seeded with
``(seed, dataset_id, i, stream)``, so a video does not depend on which other videos are built,
and shots / prototypes / events / noise do not depend on ``strength`` (only the event weights do).

Frames, steps, shots (independent of the annotations):
    n_frames, fps          real, from the annotation
    picks                  0, 15, 30, ... < n_frames;  n_steps = len(picks)
    shots                  lengths L ~ round(U(2 s, 8 s) * fps) drawn until they cover the
                           video; the overflow is cut from the last shot, and a last shot shorter
                           than 2 s is merged into the one before it.

Ground truth (from the real annotation, users u = 1..U, frames f):
    SumMe   user_summary[u, f] = [user_scores[u, f] > 0]          (the real selections)
            importance[f]      = mean_u user_summary[u, f]         (selection rate)
            gtscore[t]         = importance[picks[t]]
    TVSum   importance[f]      = mean_u user_scores[u, f]          (1..5)
            gtscore[t]         = minmax(importance[picks])         (scaled to [0, 1] per video)
            user_summary[u]    = frames of the shots chosen by a 0/1 knapsack over the generated
                                 shots, value = mean of user u's scores in the shot,
                                 weight = shot length, capacity = 15% of n_frames
                                 (how the eccv16 files were built over KTS shots).
    Per-user TVSum scores are not written; loaders attach them from the annotations.

Planted structure. Shot j (steps t in j) has importance I_j = mean of importance[f] over its
frames, with normalised rank q_j = (rank(I_j) - 1/2) / n_shots (average rank for ties). With
strength s in [0, 1] and eps_j ~ N(0, 1) i.i.d.

    z_j = s * Phi^-1(q_j) + sqrt(1 - s^2) * eps_j                 (Gaussian copula, corr = s)
    w_j = W_MAX * (r_j / (n_shots - 1)) ** GAMMA,  r_j = rank of z_j among shots (0 = lowest)

so the multiset of event weights {w_j} is the same at every strength; s only sets how well the
order of w follows human importance (s = 1: w sorted exactly by I; s = 0: a random permutation,
independent of the annotations, so the features carry no information about importance).
With theta_j = (pi / 2) * w_j, the latent of step t in shot j is

    g_t = sqrt(A_CONTENT) * (cos(theta_j) * P[k_j] + sin(theta_j) * E_jt)
          + sqrt(A_DRIFT) * (c(t) @ V) + sqrt(A_NOISE) * n_t
    E_jt = sqrt(1 - MOTION * w_j) * E_j + sqrt(MOTION * w_j) * U_t        (events move)

    P[1..K]   K ~ U{3..6} background prototypes of the video; k_j uniform over the prototypes
              other than k_{j-1}, so content changes at every shot boundary (KTS can find them)
    E_j       an event vector unique to shot j (it recurs nowhere else)
    U_t       fresh content at every step: an event shot changes from step to step in proportion
              to its weight (something happens), a background shot is static but for noise/drift
    V         (DRIFT_DIMS, D) drift directions; c(t) a unit vector in R^DRIFT_DIMS that moves
              slowly (normalised Gaussian random walk, N(0, I) start, N(0, DRIFT_STEP^2 I) steps)
    n_t       per-step noise, i.i.d. N(0, 1) per coordinate; A_CONTENT + A_DRIFT + A_NOISE = 1.
    P, E, U   draws from two subspaces SHARED BY ALL VIDEOS of the dataset, as GoogLeNet features
              of scenery and of people/action occupy different directions in every video:
              P = z @ B_bg / sqrt(R), E = z' @ B_ev / sqrt(R), U = z'' @ B_ev / sqrt(R) with
              z, z', z'' ~ N(0, I_R) per draw and B_bg, B_ev (R, D) i.i.d. N(0, 1), R = SHARED_RANK,
              drawn once per (seed, dataset). Each coordinate has variance ~1 either way.

So the value distribution of a coordinate is the same for every step at every strength; what
tells important steps apart is which steps resemble which (distinctiveness), how much a shot
changes from step to step (motion) and which shared directions it occupies (content kind).
Features are log-normal, non-negative like GoogLeNet pool5:

    x_t = FEATURE_SCALE * exp(LOG_SIGMA * g_t - LOG_SIGMA^2 / 2)

Constants: A_CONTENT, A_DRIFT, A_NOISE = 0.7, 0.1, 0.2; DRIFT_DIMS = 3; DRIFT_STEP = 0.05;
W_MAX = 1; GAMMA = 2 (a few shots carry most of the distinctiveness); FEATURE_SCALE = 0.5;
LOG_SIGMA = 1, giving feature values with mean 0.5, median ~0.30, ~13% below 0.1, no exact zeros.
Consecutive steps have cosine similarity ~0.82 inside a shot and ~0.40 across a boundary.

Unimportant shots (w ~ 0) replay recurring prototypes and are static; important shots mix in
a vector seen nowhere else (a method that picks diverse frames, DR-DSN, finds them) and change
from step to step (meant as the cue for a method that keeps what it cannot reconstruct from the
neighbouring frames; measured, TR-SUM's summary-reconstruction reward barely follows it, see
``benchmarks/reward_signal.py``: keeping a video's recurring background helps rebuild the rest
at least as much). :func:`distinctiveness` is the label-free reference probe of the first cue.
Builder version 1 had no U_t and drew P, E independently per video (no shared subspaces). Measured there with TR-SUM's quick generator on SumMe split 0: the Kendall tau of
its masked-reconstruction error vs importance was 0.01 on the test videos, and a summarizer
regressed directly onto that error on the training videos reached tau 0.15 there but 0.03 on
the test videos: with every video's content i.i.d. in 1024-d there was nothing a model trained
on 16 videos could carry to a new one but pure frame-to-frame relations.

DEFAULT_STRENGTH = 0.8. Measured (builder version 2, seed 0, D = 1024, all videos,
vidsum.evaluation.metrics): the probe reaches Kendall tau 0.21 (SumMe) / 0.21 (TVSum) at
s = 0.8, -0.01 / -0.02 at s = 0; scoring steps by the gtscore itself (full knowledge of the
mean annotation) gives 0.38 / 0.36. Keyshot F of the probe: 0.50 / 0.51 at s = 0.8 against
0.32 / 0.46 for i.i.d. random step scores; at s = 0 it is 0.31 / 0.37, not above random, because
keyshot F rewards score vectors that make the knapsack take many short shots (Otani et al.
2019), not because of any information. So judge F against the same method at s = 0, and use
tau / rho. The reconstruction cue (SumMe split 0, TR-SUM quick generator trained on the 16
training videos, test videos): Kendall tau of the masked-reconstruction error (50% random
masks) vs importance 0.08, and 0.11 for a summarizer regressed onto that error map on the
training videos (version 1: 0.01 and 0.03).

Cues (``cue``, builder versions). What is described above is the 'events' cue, builder version
2, the default (its files keep their name ``standin_<ds>_v2_s<S>_seed<seed>_d<D>.h5`` and their
bytes; they carry no ``cue`` attribute). Builder version 3 adds two cues that put importance in
content aligned with the video's TEXT, the idea SG-VS rests on (``vidsum.text``: the SumMe video
name, the TVSum category query, encoded by WordLlama, exactly what SG-VS reads by default):

    t_v       the video's unit text vector (d_text = 256), T_v = t_v @ M_text
    M_text    (d_text, D) i.i.d. N(0, 1), drawn once per (seed, dataset) like B_bg, B_ev (stream 4
              of index 0, used by no video), so each coordinate of T_v has variance 1
    'text'    g_t = sqrt(A_CONTENT) * (cos(phi_j) * P[k_j] + sin(phi_j) * T_v) + drift + noise,
              phi_j = TEXT_ANGLE * w_j, TEXT_ANGLE = pi / 4: no events; a shot of weight 1 is half
              (in variance) its background, half the text direction; weight 0 is pure background
    'mixed'   g_t = sqrt(A_CONTENT) * (cos(theta_j) * P[k_j] + sin(theta_j) * (cos(MIX_ANGLE) * E_jt
              + sin(MIX_ANGLE) * T_v)) + drift + noise, MIX_ANGLE = pi / 4: the events model with
              half of an important shot's event content replaced by the text direction

with the same w_j (same copula, same draws: at strength 0 the text direction is independent of
importance), the same shots, prototypes, drift and noise as 'events' for the same seed (the draw
order does not depend on the cue), and the same log-normal map. TVSum videos of one
category share their text and so their T_v; SumMe texts are nearly unrelated (mean pairwise
cosine of the WordLlama vectors 0.03; TVSum 0.13 over videos). Files:
``standin_<ds>_v3-<cue>_s<S>_seed<seed>_d<D>.h5`` with attributes ``cue`` and ``text_encoder``.

Text-cue check before training (:func:`text_alignment`, :func:`text_cue_probe`,
``benchmarks/text_cue_probe.py``; seed 0, D = 1024, all videos): Kendall tau-b between the
frame-text cosine (features standardised per video against T_v, i.e. an alignment that knows
M_text) and the gtscore, mean over videos, SumMe / TVSum:

    cue      s = 0.8          s = 0            distinctiveness at 0.8 (tau vs gtscore, not annotators)
    events   -0.01 / +0.01    +0.00 / +0.01    0.39 / 0.40
    text     +0.47 / +0.45    -0.02 / -0.02    0.12 / 0.08
    mixed    +0.46 / +0.45    -0.03 / -0.02    0.36 / 0.39

(per-video sd 0.05-0.13). The text cue leaks little into distinctiveness. Whether it can be
learned from training videos (one-off, not in the benchmark): a ridge map from t_v to each other
video's gtscore-weighted feature direction, leave-one-video-out, gives tau 0.38 (SumMe) / 0.45
(TVSum) on cue 'text' at 0.8, against 0.24 / 0.39 for the text-blind mean direction (the texts
share a common component) and 0.04 / 0.09 on 'events'.
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

from vidsum import progress
from vidsum.data import annotations
from vidsum.data.eccv16 import Video, write_file
from vidsum.evaluation.summary import knapsack

DATASETS = annotations.DATASETS
BUILDER_VERSION = "2"  # the 'events' cue; files and attributes exactly as before cues existed
TEXT_BUILDER_VERSION = "3"  # the 'text' and 'mixed' cues
DEFAULT_STRENGTH = 0.8
CUES = ("events", "text", "mixed")
DEFAULT_CUE = "events"
TEXT_ENCODER = "wordllama"  # what SG-VS reads by default (vidsum.training.sgvs.SGVSConfig.text_encoder)
TEXT_ANGLE = 0.25 * math.pi  # 'text': content angle towards the text direction at w = 1 (half the variance)
MIX_ANGLE = 0.25 * math.pi  # 'mixed': the share of an important shot's content that is text, not event

STEP = 15  # frames between picks, as in the eccv16 files
SHOT_SECONDS = (2.0, 8.0)
SUMMARY_PROPORTION = 0.15
N_PROTOTYPES = (3, 6)  # inclusive range of background prototypes per video
A_CONTENT, A_DRIFT, A_NOISE = 0.7, 0.1, 0.2
DRIFT_DIMS = 3
DRIFT_STEP = 0.05
MOTION = 0.5  # share of an event's content renewed at every step, at w = 1
SHARED_RANK = 64  # dimension of each shared subspace (background, event)
W_MAX = 1.0
GAMMA = 2.0
FEATURE_SCALE = 0.5
LOG_SIGMA = 1.0

# Independent random streams of one video; shots etc. must not change when strength changes.
_SHOTS, _FEATURES, _COUPLING, _BASES, _TEXT = 0, 1, 2, 3, 4


def _rng(seed: int, dataset: str, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, DATASETS.index(dataset), index, stream])


def make_picks(n_frames: int, step: int = STEP) -> np.ndarray:
    """(n_steps,) int64 frame index of each step: 0, step, 2 step, ... < n_frames."""
    return np.arange(0, n_frames, step, dtype=np.int64)


def make_shots(n_frames: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """(n_shots, 2) int64 inclusive [first, last] frames of random shots covering the video.

    Lengths ~ U(SHOT_SECONDS) * fps; the last shot is cut at the end of the video and merged into
    the previous one when shorter than the minimum length.
    """
    lo, hi = (max(1, round(s * fps)) for s in SHOT_SECONDS)
    lengths: list[int] = []
    total = 0
    while total < n_frames:
        n = int(round(rng.uniform(lo, hi)))
        lengths.append(n)
        total += n
    lengths[-1] -= total - n_frames
    if len(lengths) > 1 and lengths[-1] < lo:
        last = lengths.pop()
        lengths[-1] += last
    ends = np.cumsum(lengths) - 1
    starts = np.concatenate([[0], ends[:-1] + 1])
    return np.stack([starts, ends], axis=1).astype(np.int64)


def shot_of_steps(picks: np.ndarray, change_points: np.ndarray) -> np.ndarray:
    """(n_steps,) index of the shot holding each pick."""
    return np.searchsorted(change_points[:, 1], picks, side="left").astype(np.int64)


def frame_importance(dataset: str, user_scores: np.ndarray) -> np.ndarray:
    """(n_frames,) human mean importance: SumMe selection rate, TVSum mean score (1..5)."""
    if dataset == "summe":
        return (user_scores > 0).mean(axis=0)
    return user_scores.astype(np.float64).mean(axis=0)


def shot_means(frame_values: np.ndarray, change_points: np.ndarray) -> np.ndarray:
    """(..., n_shots) mean of (..., n_frames) values over each shot's frames."""
    sums = np.add.reduceat(frame_values, change_points[:, 0], axis=-1)
    return sums / (change_points[:, 1] - change_points[:, 0] + 1)


def event_weights(importance: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """(n_shots,) event weight w_j in [0, W_MAX] per shot (Gaussian copula, see module docstring).

    importance: (n_shots,) human importance of each shot.
    """
    n = importance.shape[0]
    if n == 1:
        return np.zeros(1)
    q = (rankdata(importance) - 0.5) / n
    z = strength * ndtri(q) + math.sqrt(max(0.0, 1.0 - strength**2)) * rng.standard_normal(n)
    r = rankdata(z, method="ordinal") - 1  # ties (only at s = 1) broken by shot order
    return W_MAX * (r / (n - 1)) ** GAMMA


def _drift_path(n_steps: int, rng: np.random.Generator) -> np.ndarray:
    """(n_steps, DRIFT_DIMS) unit vectors moving slowly (normalised Gaussian random walk)."""
    walk = rng.standard_normal(DRIFT_DIMS) + np.cumsum(
        DRIFT_STEP * rng.standard_normal((n_steps, DRIFT_DIMS)), axis=0
    )
    return walk / np.linalg.norm(walk, axis=1, keepdims=True)


def shared_bases(dataset: str, feature_dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(B_bg, B_ev): the (SHARED_RANK, feature_dim) background and event bases of a dataset."""
    rng = _rng(seed, dataset, 0, _BASES)  # stream _BASES is used by no video
    return rng.standard_normal((SHARED_RANK, feature_dim)), rng.standard_normal((SHARED_RANK, feature_dim))


def check_cue(cue: str) -> str:
    """``cue`` if it is one of :data:`CUES`, else one ValueError naming it."""
    if not isinstance(cue, str) or cue not in CUES:
        raise ValueError(f"unknown stand-in cue {cue!r}; expected one of {', '.join(CUES)}")
    return cue


def builder_version(cue: str) -> str:
    """The builder version of a cue: 2 for 'events' (unchanged), 3 for 'text' / 'mixed'."""
    return BUILDER_VERSION if check_cue(cue) == "events" else TEXT_BUILDER_VERSION


def text_projection(dataset: str, d_text: int, feature_dim: int, seed: int) -> np.ndarray:
    """M_text: the (d_text, feature_dim) i.i.d. N(0, 1) map from text space to feature space, one per
    (seed, dataset) like :func:`shared_bases` (stream _TEXT of index 0, used by no video)."""
    return _rng(seed, dataset, 0, _TEXT).standard_normal((int(d_text), int(feature_dim)))


def text_directions(
    dataset: str, keys: list[str], feature_dim: int, seed: int, encoder: str = TEXT_ENCODER,
    cache_dir: str | Path | None | bool = None,
) -> dict[str, np.ndarray]:
    """{key: (feature_dim,) float64 T_v = t_v @ M_text}: each video's text in feature space.

    t_v is the unit text vector SG-VS reads (``vidsum.text.text_vectors``: SumMe video name, TVSum
    category query, encoder ``encoder``), so each coordinate of T_v is N(0, 1) over M_text.
    """
    from vidsum import text as text_mod

    vectors = text_mod.text_vectors(dataset, list(keys), encoder, cache_dir=cache_dir)
    d_text = next(iter(vectors.values())).shape[0]
    m = text_projection(dataset, d_text, feature_dim, seed)
    return {k: v.astype(np.float64) @ m for k, v in vectors.items()}


def generate_features(
    shot_of_step: np.ndarray, weights: np.ndarray, feature_dim: int, rng: np.random.Generator,
    bases: tuple[np.ndarray, np.ndarray], cue: str = DEFAULT_CUE, text_direction: np.ndarray | None = None,
) -> np.ndarray:
    """(n_steps, feature_dim) float32 log-normal features with the planted structure.

    shot_of_step: (n_steps,) shot index of each step; weights: (n_shots,) event weights w_j;
    bases: :func:`shared_bases`. Draws in a fixed order that does not depend on ``weights`` or
    ``cue`` (so a video has the same prototypes, drift and noise under every cue).
    cue 'text' / 'mixed' need ``text_direction`` (feature_dim,) T_v (:func:`text_directions`).
    """
    check_cue(cue)
    if cue != "events":
        if text_direction is None:
            raise ValueError(f"cue {cue!r} needs the video's text_direction")
        text_direction = np.asarray(text_direction, dtype=np.float64)
        if text_direction.shape != (feature_dim,):
            raise ValueError(f"text_direction must be ({feature_dim},), got {text_direction.shape}")
    n_steps, n_shots = shot_of_step.shape[0], weights.shape[0]
    background, event = (b / math.sqrt(b.shape[0]) for b in bases)
    n_proto = int(rng.integers(N_PROTOTYPES[0], N_PROTOTYPES[1] + 1))
    prototypes = rng.standard_normal((n_proto, SHARED_RANK)) @ background
    events = rng.standard_normal((n_shots, SHARED_RANK)) @ event
    proto_of_shot = np.empty(n_shots, dtype=np.int64)
    proto_of_shot[0] = rng.integers(n_proto)
    for j in range(1, n_shots):  # any prototype but the previous shot's one
        k = int(rng.integers(n_proto - 1))
        proto_of_shot[j] = k + (k >= proto_of_shot[j - 1])
    drift = _drift_path(n_steps, rng) @ rng.standard_normal((DRIFT_DIMS, feature_dim))
    noise = rng.standard_normal((n_steps, feature_dim))
    fresh = rng.standard_normal((n_steps, SHARED_RANK)) @ event  # U_t

    w = weights[shot_of_step][:, None]
    theta = 0.5 * math.pi * w
    moving_event = np.sqrt(1 - MOTION * w) * events[shot_of_step] + np.sqrt(MOTION * w) * fresh
    background = prototypes[proto_of_shot[shot_of_step]]
    if cue == "events":
        content = np.cos(theta) * background + np.sin(theta) * moving_event
    elif cue == "text":
        phi = TEXT_ANGLE * w
        content = np.cos(phi) * background + np.sin(phi) * text_direction
    else:  # mixed
        content = np.cos(theta) * background + np.sin(theta) * (
            math.cos(MIX_ANGLE) * moving_event + math.sin(MIX_ANGLE) * text_direction
        )
    g = math.sqrt(A_CONTENT) * content + math.sqrt(A_DRIFT) * drift + math.sqrt(A_NOISE) * noise
    return (FEATURE_SCALE * np.exp(LOG_SIGMA * g - 0.5 * LOG_SIGMA**2)).astype(np.float32)


def tvsum_user_summary(
    user_scores: np.ndarray, change_points: np.ndarray, proportion: float = SUMMARY_PROPORTION
) -> np.ndarray:
    """(n_users, n_frames) uint8 keyshot summary of each user: knapsack over shots.

    user_scores: (n_users, n_frames) TVSum scores 1..5. Shot value = mean user score in the shot,
    weight = shot length, capacity = floor(proportion * n_frames).
    """
    n_users, n_frames = user_scores.shape
    lengths = change_points[:, 1] - change_points[:, 0] + 1
    values = shot_means(user_scores.astype(np.float64), change_points)
    capacity = int(proportion * n_frames)
    summary = np.zeros((n_users, n_frames), dtype=np.uint8)
    for u in range(n_users):
        chosen = np.asarray(knapsack(values[u], lengths, capacity), dtype=bool)
        summary[u] = np.repeat(chosen, lengths)
    return summary


def gtscore(dataset: str, importance: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """(n_steps,) float32 gtscore: SumMe selection rate at the pick, TVSum min-max scaled mean."""
    at_picks = importance[picks]
    if dataset == "tvsum":
        span = at_picks.max() - at_picks.min()
        at_picks = (at_picks - at_picks.min()) / span if span > 0 else np.zeros_like(at_picks)
    return at_picks.astype(np.float32)


def build_video(
    dataset: str,
    index: int,
    annotation: annotations.VideoAnnotation,
    strength: float,
    feature_dim: int,
    seed: int,
    bases: tuple[np.ndarray, np.ndarray] | None = None,
    cue: str = DEFAULT_CUE,
    text_direction: np.ndarray | None = None,
) -> Video:
    """One stand-in video from its real annotation (``index``: position in annotation order).

    bases: ``shared_bases(dataset, feature_dim, seed)``, drawn here when not given (a whole
    build draws them once). text_direction: the video's T_v for cue 'text' / 'mixed', computed
    here with the default encoder when not given."""
    check_cue(cue)
    if cue != "events" and text_direction is None:
        text_direction = text_directions(dataset, [annotation.key], feature_dim, seed)[annotation.key]
    user_scores = annotation.user_scores
    picks = make_picks(annotation.n_frames)
    change_points = make_shots(annotation.n_frames, annotation.fps, _rng(seed, dataset, index, _SHOTS))
    importance = frame_importance(dataset, user_scores)
    weights = event_weights(
        shot_means(importance, change_points), strength, _rng(seed, dataset, index, _COUPLING)
    )
    features = generate_features(
        shot_of_steps(picks, change_points), weights, feature_dim, _rng(seed, dataset, index, _FEATURES),
        shared_bases(dataset, feature_dim, seed) if bases is None else bases, cue, text_direction,
    )
    if dataset == "summe":
        user_summary = (user_scores > 0).astype(np.uint8)
    else:
        user_summary = tvsum_user_summary(user_scores, change_points)
    return Video(
        key=annotation.key,
        features=features,
        gtscore=gtscore(dataset, importance, picks),
        user_summary=user_summary,
        change_points=change_points,
        n_frame_per_seg=change_points[:, 1] - change_points[:, 0] + 1,
        n_frames=annotation.n_frames,
        picks=picks,
        video_name=annotation.name if dataset == "summe" else None,
    )


def check_strength(strength: float, name: str = "strength") -> float:
    """``strength`` as a float if it is in [0, 1], else one ValueError naming ``name``."""
    strength = float(strength)
    if not (0.0 <= strength <= 1.0):  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {strength}")
    return strength


def _check_args(dataset: str, strength: float, feature_dim: int, seed: int) -> float:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    strength = check_strength(strength)
    if isinstance(feature_dim, bool) or int(feature_dim) != feature_dim or feature_dim < 1:
        raise ValueError(f"feature_dim must be a positive integer, got {feature_dim}")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return strength


def annotations_sha256(dataset: str) -> str:
    """sha256 of the shipped annotation file the stand-in is built from."""
    return hashlib.sha256(annotations.shipped_path(dataset).read_bytes()).hexdigest()


def build_standin(
    dataset: str,
    out_path: str | Path,
    strength: float = DEFAULT_STRENGTH,
    feature_dim: int = 1024,
    seed: int = 0,
    keys: list[str] | None = None,
    cue: str = DEFAULT_CUE,
    text_encoder: str = TEXT_ENCODER,
) -> Path:
    """Write the stand-in ``dataset`` ('summe' | 'tvsum') to ``out_path`` (eccv16 h5, atomic).

    keys: the subset of videos (``video_N``) to build, default all. cue: 'events' (builder
    version 2, the default), 'text' or 'mixed' (version 3; text vectors from ``text_encoder``,
    a ``vidsum.text`` encoder name). File attributes record features='generated', dataset,
    strength, seed, builder_version and annotations_sha256, and for 'text' / 'mixed' also cue
    and text_encoder (an 'events' file has no cue attribute: its bytes are those of version 2).
    Returns the path written.
    """
    strength = _check_args(dataset, strength, feature_dim, seed)
    check_cue(cue)
    anns = annotations.load(dataset)
    index_of = {a.key: i for i, a in enumerate(anns)}
    if keys is None:
        wanted = list(index_of)
    else:
        wanted = list(keys)
        unknown = [k for k in wanted if k not in index_of]
        if unknown:
            raise KeyError(f"unknown {dataset} video key(s) {', '.join(map(str, unknown))}")
        if not wanted:
            raise ValueError("keys: empty list; pass None for every video")
        if len(set(wanted)) != len(wanted):
            raise ValueError(f"keys: duplicates in {wanted}")
    bases = shared_bases(dataset, int(feature_dim), int(seed))
    directions = (
        {} if cue == "events"
        else text_directions(dataset, wanted, int(feature_dim), int(seed), encoder=text_encoder)
    )
    videos = []
    # video k of n on stderr; plain lines at most once a second (a SumMe build takes about one)
    with progress.Progress(f"building the {dataset} stand-in ({cue}, strength {strength:g})", len(wanted),
                           unit="video", every_s=1.0) as shown:
        for k in wanted:
            videos.append(build_video(dataset, index_of[k], anns[index_of[k]], strength, int(feature_dim), int(seed),
                                      bases, cue, directions.get(k)))
            shown.update()
    attrs = {
        "features": "generated",
        "dataset": dataset,
        "strength": repr(strength),
        "seed": str(int(seed)),
        "feature_dim": str(int(feature_dim)),
        "builder_version": builder_version(cue),
        "annotations_sha256": annotations_sha256(dataset),
    }
    if cue != "events":
        from vidsum import text as text_mod

        attrs["cue"] = cue
        attrs["text_encoder"] = text_encoder if text_encoder.endswith(".npz") else text_mod.get_encoder(text_encoder).name
    return write_file(out_path, videos, attrs)


def standin_filename(dataset: str, strength: float, seed: int, feature_dim: int, cue: str = DEFAULT_CUE) -> str:
    """File name used by ``build_cli`` (and by ``vidsum.data.datasets.standin_path``):
    ``standin_<dataset>_v2_s<strength>_seed<seed>_d<dim>.h5`` for 'events' (as before cues existed),
    ``standin_<dataset>_v3-<cue>_s<strength>_seed<seed>_d<dim>.h5`` for 'text' / 'mixed'."""
    version = builder_version(cue) + ("" if cue == "events" else f"-{cue}")
    return f"standin_{dataset}_v{version}_s{strength:g}_seed{seed}_d{feature_dim}.h5"


def build_cli(dataset: str, dest: str | Path, strength: float, seed: int, feature_dim: int,
              cue: str = DEFAULT_CUE) -> int:
    """``vidsum data build``: write ``dest/`` + :func:`standin_filename`.

    ``dest`` is a folder, or the file itself when it ends in ``.h5``. Prints the path, size and
    time; returns the exit status (0).
    """
    strength = _check_args(dataset, strength, feature_dim, seed)
    check_cue(cue)
    dest = Path(dest)
    path = dest if dest.suffix == ".h5" else dest / standin_filename(dataset, strength, seed, feature_dim, cue)
    start = time.perf_counter()
    build_standin(dataset, path, strength=strength, feature_dim=feature_dim, seed=seed, cue=cue)
    took = time.perf_counter() - start
    print(
        f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB, {took:.1f} s): {dataset} stand-in, "
        f"real annotations + GENERATED features (cue {cue}, strength {strength:g}, seed {seed}, dim {feature_dim})"
    )
    return 0


def distinctiveness(features: np.ndarray, k: int = 5, min_gap: int = 16) -> np.ndarray:
    """(n_steps,) label-free probe of the planted structure: how unlike the rest of the video a step is.

    features: (n_steps, D). Score of step t = mean cosine distance to its k nearest steps among
    those at least ``min_gap`` steps away (16 steps = 8 s at 30 fps, the longest generated shot,
    so a shot cannot vouch for itself). Recurring background scores low, unique events high.
    A step with no step that far away scores 0.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"features: expected (n_steps, D) with n_steps > 0, got shape {x.shape}")
    if k < 1 or min_gap < 1:
        raise ValueError(f"k and min_gap must be >= 1, got k={k}, min_gap={min_gap}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit = x / np.where(norms > 0, norms, 1.0)
    dist = 1.0 - unit @ unit.T
    t = np.arange(x.shape[0])
    dist[np.abs(t[:, None] - t[None, :]) < min_gap] = np.inf
    kk = min(k, x.shape[0])
    nearest = np.partition(dist, kk - 1, axis=1)[:, :kk]  # the kk smallest, unordered
    finite = np.isfinite(nearest)
    counts = finite.sum(axis=1)
    sums = np.where(finite, nearest, 0.0).sum(axis=1)
    return np.divide(sums, counts, out=np.zeros(x.shape[0]), where=counts > 0)


def text_alignment(features: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """(n_steps,) label-free probe of the text cue: cosine between each step's features, standardised
    per dimension over the video (as SG-VS's FeatureNorm standardises its input), and the video's
    text direction T_v (:func:`text_directions`): the frame-text similarity of an alignment that
    knows M_text. A dimension constant over the video contributes 0.
    """
    x = np.asarray(features, dtype=np.float64)
    d = np.asarray(direction, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"features: expected (n_steps, D) with n_steps > 0, got shape {x.shape}")
    if d.shape != (x.shape[1],):
        raise ValueError(f"direction must be ({x.shape[1]},) like the features, got {d.shape}")
    sd = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    norms = np.linalg.norm(z, axis=1) * np.linalg.norm(d)
    return np.divide(z @ d, norms, out=np.zeros(x.shape[0]), where=norms > 0)


def text_cue_probe(
    dataset: str, videos: dict[str, Video], seed: int = 0, encoder: str = TEXT_ENCODER,
    cache_dir: str | Path | None | bool = None,
) -> dict[str, float]:
    """Mean over ``videos`` of the Kendall tau-b between :func:`text_alignment` and the gtscore.

    The text directions are those a stand-in of ``dataset`` built with ``seed`` and ``encoder``
    uses (the feature width is the videos'). Returns {'tau': mean, 'tau_std': std over videos,
    'n_videos': n}; a video whose tau is undefined (constant scores) is left out.
    """
    from scipy.stats import kendalltau

    if not videos:
        raise ValueError("text_cue_probe: no videos")
    dims = {v.feature_dim for v in videos.values()}
    if len(dims) != 1:
        raise ValueError(f"text_cue_probe: videos of different feature widths {sorted(dims)}")
    directions = text_directions(dataset, list(videos), dims.pop(), seed, encoder=encoder, cache_dir=cache_dir)
    taus = []
    for key, v in videos.items():
        tau = kendalltau(text_alignment(v.features, directions[key]), v.gtscore).statistic
        if np.isfinite(tau):
            taus.append(float(tau))
    if not taus:
        raise ValueError("text_cue_probe: tau undefined for every video")
    return {"tau": float(np.mean(taus)), "tau_std": float(np.std(taus)), "n_videos": len(taus)}
