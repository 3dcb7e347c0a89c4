"""Checkpoints: one ``.pt`` file per stage holding everything needed to resume or to score.

A checkpoint is a plain dict saved with ``torch.save``:

    kind         'trsum-generator' | 'trsum-summarizer' | ... (what the weights are)
    epoch        last finished epoch (0-based)
    model        state_dict
    model_config plain dict that rebuilds the module (see ``vidsum.models``)
    optimizer, scheduler   state_dicts (absent in a model-only export)
    rng          RNG states (torch global + the loop's own generators) so a resumed run is
                 bit-identical on CPU to an uninterrupted one
    history      per-epoch metrics so far
    extra        loop-specific state (e.g. the RL baseline, best-epoch snapshots)
    meta         self-description: feature_dim, dataset, features kind, vidsum commit, config

Writes are atomic (temp file + rename), so an interrupted save never leaves a torn file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Atomically write ``state`` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, expect_kind: str | None = None) -> dict[str, Any]:
    """Read a checkpoint; clear errors for a missing file, a foreign file or the wrong kind."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises many types for a non-checkpoint file
        raise ValueError(f"{path}: not a vidsum checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(state, dict) or "kind" not in state or "model" not in state:
        raise ValueError(f"{path}: not a vidsum checkpoint (no 'kind'/'model' entries)")
    if expect_kind is not None and state["kind"] != expect_kind:
        raise ValueError(f"{path}: holds a {state['kind']!r} checkpoint, expected {expect_kind!r}")
    return state


def rng_state(*generators: torch.Generator) -> dict[str, Any]:
    """Torch global RNG state plus the states of the loop's own generators."""
    return {"torch": torch.get_rng_state(), "generators": [g.get_state() for g in generators]}


def restore_rng(state: dict[str, Any], *generators: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    for g, s in zip(generators, state["generators"], strict=True):
        g.set_state(s)
