"""A new method is one module and one registry entry.

This file alone defines a toy method (a per-step linear scorer that learns to spread its scores)
and registers it; ``vidsum train``, ``tune.py`` (one fold, one trial, Ray) and ``vidsum summarize``
then run it without any other change. Processes that do not import this file (tune.py and its
Ray workers) find it through ``$VIDSUM_METHODS``.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

from vidsum.training.checkpoint import rng_state
from vidsum.training.config import PlainConfig
from vidsum.training.loop import batches, mean, restore, seeded, selection_values, unwrap, update_best
from vidsum.training.methods import Method, Stage, get_method, method_names, register

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FEATURE_DIM = 16


@dataclass
class ToyConfig(PlainConfig):
    LABEL: ClassVar[str] = "toy"

    epochs: int = 3
    lr: float = 0.05
    batch_videos: int = 4
    val_fraction: float = 0.2
    summary_proportion: float = 0.15
    seed: int = 0
    amp: bool = False


class ToyScorer(nn.Module):
    def __init__(self, config: dict[str, Any]):
        super().__init__()
        self.config = dict(config)
        self.linear = nn.Linear(config["d_feat"], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (n, D) -> (n,) scores in (0, 1)."""
        return torch.sigmoid(self.linear(x)).squeeze(-1)


def toy_score(model: nn.Module, video, cfg: ToyConfig) -> np.ndarray:
    model = unwrap(model)
    with torch.no_grad():
        return model(torch.from_numpy(video.features)).numpy()


def train_toy(cfg: ToyConfig, videos, rt, *, inputs, val_videos, test_videos, dataset):
    torch.manual_seed(cfg.seed)
    shuffle = seeded(cfg.seed, 41)
    model = ToyScorer({"d_feat": videos[0].features.shape[1]}).to(rt.device)
    wrapped = rt.wrap_model(model)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    history, start, best = [], 0, {}
    if rt.resume is not None:
        history, start, extra = restore(rt.resume, model=model, optimizer=opt, generators=(shuffle,))
        best = copy.deepcopy(extra["best"])
    for epoch in range(start, cfg.epochs):
        losses = []
        for idx in batches(len(videos), cfg.batch_videos, rt, shuffle):
            # unsupervised toy objective: spread the scores of each video
            loss = -torch.stack([wrapped(torch.from_numpy(videos[i].features).to(rt.device)).std()
                                 for i in idx.tolist()]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        row = {"stage": "toy", "epoch": epoch, "loss": mean(losses)}
        values = selection_values(lambda v: toy_score(model, v, cfg), lambda v, s: float(np.std(s)),
                                  val_videos, test_videos, dataset)
        update_best(best, values, epoch, model, row)
        history.append(row)
        if rt.report is not None:
            rt.report(row, {"kind": "toy-scorer", "epoch": epoch, "model": model.state_dict(),
                            "model_config": model.config, "optimizer": opt.state_dict(), "rng": rng_state(shuffle),
                            "history": history, "extra": {"best": best}, "meta": {"config": cfg.to_dict()}})
    return model, history, best


def _toy() -> Method:
    return Method("toy", ToyConfig, {"quick": {}, "paper": {"epochs": 10}},
                  (Stage("toy", "toy-scorer", "epochs", "toy.pt", train_toy, ToyScorer),),
                  score=toy_score,
                  summary_value=lambda model, video, cfg, inputs, proportion: float(np.std(toy_score(model, video, cfg))))


register("toy", _toy)


# ------------------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """The SumMe stand-in (all 25 videos, 16-d features) where the real file would be: every
    entry point reads it without stand-in options."""
    from vidsum.data.download import real_h5_path
    from vidsum.data.standin import build_standin

    data = tmp_path_factory.mktemp("toy") / "data"
    build_standin("summe", real_h5_path("summe", data), feature_dim=FEATURE_DIM)
    return data


def test_the_registry_holds_the_toy_method():
    assert "toy" in method_names() and get_method("toy").stage_names == ("toy",)
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        get_method("nope")


@pytest.mark.slow
def test_train_and_summarize_a_toy_model(data_dir, tmp_path, capsys):
    from vidsum.cli import main
    from vidsum.data.download import real_h5_path

    args = ["train", "toy", "--dataset", "summe", "--split", "0", "--data-dir", str(data_dir),
            "--results", str(tmp_path / "results"), "--checkpoint-dir", str(tmp_path / "ckpt")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "toy summe standard split 0" in out and "label_free" in out
    folds = pd.read_parquet(tmp_path / "results" / "folds.parquet")
    assert set(folds["method"]) == {"toy"} and set(folds["selection"]) == {"label_free", "validation", "oracle", "none"}
    assert folds["f1"].between(0, 1).all() and json.loads(folds["config"].iloc[0])["epochs"] == 3
    assert (tmp_path / "ckpt" / "toy.pt").exists()
    # the saved model summarizes a video the harness never saw as a video
    code = main(["summarize", str(real_h5_path("summe", data_dir)), "--video-key", "video_3", "--checkpoint",
                 str(tmp_path / "ckpt" / "toy.pt"), "--out", str(tmp_path / "summary")])
    assert code == 0, capsys.readouterr().err
    doc = json.loads((tmp_path / "summary" / "summary.json").read_text())
    assert doc["checkpoint"]["kind"] == "toy-scorer" and doc["summary"]["n_selected_shots"] > 0
    assert doc["settings"]["segment_len"] is None and 0 <= doc["label_free_reward"] <= 0.5


@pytest.mark.slow
@pytest.mark.ray  # tune.py starts its own Ray
def test_tune_runs_a_toy_method_from_its_module(data_dir, tmp_path):
    pytest.importorskip("ray")
    space = tmp_path / "toy.yaml"
    space.write_text("objective: validation\nparams:\n  lr: {type: float, low: 0.01, high: 0.1, log: true}\n")
    results = tmp_path / "results"
    env = {**os.environ, "VIDSUM_METHODS": "test_toy_method", "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0",
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    args = [sys.executable, str(REPO / "tune.py"), "--dataset", "summe", "--method", "toy", "--folds", "0",
            "--trials", "1", "--data-dir", str(data_dir), "--results", str(results), "--space", str(space), "--quiet"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    folds = pd.read_parquet(results / "folds.parquet")
    assert {"toy", "human", "random"} <= set(folds["method"]) and set(folds["fold"]) == {0}
    trials = pd.read_parquet(results / "trials.parquet")
    assert len(trials) == 1 and set(trials["method"]) == {"toy"} and trials["objective"].between(0, 1).all()
    assert list(results.glob("checkpoints/*/fold0/toy.pt"))
