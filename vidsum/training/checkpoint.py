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

What a checkpoint may hold: tensors and plain values only -- dict / OrderedDict, list, tuple,
set, str, bytes, int, float, bool, complex, None, torch.Size / dtype / device. A checkpoint is
a file that gets handed around (``vidsum summarize --checkpoint``), and unpickling an arbitrary
Python object can run arbitrary code, so :func:`load_checkpoint` always reads with
``torch.load(..., weights_only=True)``, whose unpickler builds nothing else. To keep every
checkpoint vidsum writes inside that set, :func:`save_checkpoint` passes the state through
:func:`plain` first: numpy arrays become tensors, numpy scalars Python numbers, and anything
else (a module, a function, a dataclass, a Path...) is refused with a ``TypeError`` naming the
entry, at save time rather than when someone tries to load the file. A file written before
this rule (or by anything else) that the safe loader refuses can be converted once, if it is
trusted, with :func:`convert_checkpoint` (``vidsum checkpoint convert IN OUT``).

Writes are atomic (temp file + rename), so an interrupted save never leaves a torn file.
"""

from __future__ import annotations

import collections
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: Leaf values kept as they are (exact types: a subclass may pickle as its own class).
PLAIN_LEAVES: tuple[type, ...] = (str, bytes, int, float, bool, complex, type(None), torch.dtype, torch.device)
#: Who wrote checkpoints that the safe loader may refuse (for the error message).
OLD_WRITERS = "an older vidsum (0.1.0, before checkpoints were limited to tensors and plain values)"


def plain(value: Any, where: str = "state") -> Any:
    """``value`` rebuilt from tensors and plain values only: what ``torch.load(weights_only=True)`` reads back.

    numpy arrays become tensors (same dtype and values), numpy scalars Python numbers, a dict
    subclass other than ``OrderedDict`` (e.g. ``defaultdict``) a plain dict; tensors are kept as
    they are (not copied). Anything else raises ``TypeError`` naming the entry, e.g.
    ``state['extra']['best']``. Containers are rebuilt, so ``value`` itself is never modified.
    """
    if type(value) in (torch.Tensor, torch.nn.Parameter, torch.Size) or type(value) in PLAIN_LEAVES:
        return value
    if isinstance(value, np.ndarray):
        try:
            return torch.from_numpy(np.array(value, copy=True, order="C"))
        except TypeError as e:  # object / string / datetime arrays have no tensor dtype
            raise TypeError(f"{where}: a numpy array of dtype {value.dtype} cannot go into a checkpoint") from e
    if isinstance(value, np.generic):
        out = value.item()  # np.float64 -> float, np.int64 -> int, np.bool_ -> bool, np.str_ -> str
        if type(out) not in PLAIN_LEAVES:
            raise TypeError(f"{where}: numpy scalar of type {type(value).__name__} cannot go into a checkpoint")
        return out
    if isinstance(value, dict):
        items = {plain(k, f"{where} key {k!r}"): plain(v, f"{where}[{k!r}]") for k, v in value.items()}
        return collections.OrderedDict(items) if isinstance(value, collections.OrderedDict) else items
    if type(value) in (list, tuple, set):
        return type(value)(plain(v, f"{where}[{i}]") for i, v in enumerate(value))
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    raise TypeError(f"{where}: a {kind} cannot go into a checkpoint (only tensors, numpy arrays/scalars and plain "
                    "values: dict, list, tuple, set, str, bytes, int, float, bool, None)")


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Atomically write ``plain(state)`` to ``path`` (``TypeError`` for anything but tensors and plain values)."""
    path = Path(path)
    state = plain(state)
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
    """Read a checkpoint with ``weights_only=True``: it builds tensors and plain values, never runs code.

    Clear ``FileNotFoundError`` / ``ValueError`` for a missing file, a file holding other Python
    objects (refused unread, with the command that converts a trusted one), a foreign file or
    the wrong kind.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights_only" not in str(e) and "Weights only" not in str(e):
            raise ValueError(f"{path}: not a vidsum checkpoint ({type(e).__name__}: {e})") from e
        raise ValueError(refused_message(path)) from None  # torch's own text suggests weights_only=False
    except Exception as e:  # torch raises many types for a non-checkpoint file
        raise ValueError(f"{path}: not a vidsum checkpoint ({type(e).__name__}: {e})") from e
    return _checked(path, state, expect_kind)


def refused_message(path: Path) -> str:
    """The one-line error for a file the safe loader refuses, with the command that converts it."""
    converted = path.with_name(f"{path.stem}.safe{path.suffix}")
    return (f"{path}: refused: it holds Python objects other than tensors and plain values (a checkpoint "
            f"written by {OLD_WRITERS}, or a file that could run code when opened). If you trust this file, "
            f"convert it once with `vidsum checkpoint convert {path} {converted}`")


def convert_checkpoint(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Rewrite a TRUSTED old checkpoint ``src`` as one that :func:`load_checkpoint` accepts, at ``dst``.

    Only for files you trust: ``src`` is read with ``torch.load(weights_only=False)``, which runs
    whatever code the file carries. The state is then saved through :func:`save_checkpoint`
    (numpy arrays -> tensors, numpy scalars -> numbers; anything else is a ``TypeError``) and
    read back with the safe loader. ``dst`` may equal ``src`` (the write is atomic).
    """
    src = Path(src)
    if not src.exists():
        raise FileNotFoundError(f"checkpoint not found: {src}")
    try:
        state = torch.load(src, map_location="cpu", weights_only=False)  # trusted file: see docstring
    except Exception as e:
        raise ValueError(f"{src}: not a vidsum checkpoint ({type(e).__name__}: {e})") from e
    _checked(src, state, None)
    try:
        out = save_checkpoint(dst, state)
    except TypeError as e:
        raise ValueError(f"{src}: cannot convert: {e}") from e
    load_checkpoint(out, expect_kind=state["kind"])
    return out


def _checked(path: Path, state: Any, expect_kind: str | None) -> dict[str, Any]:
    """``state`` if it is a checkpoint dict of the expected kind, else a clear ``ValueError``."""
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
