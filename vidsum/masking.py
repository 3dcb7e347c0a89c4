"""BERT-style masking plans for the TR-SUM generator, vectorized over a batch of segment rows.

A plan picks *windows* (runs of consecutive positions in a row) covering about ``mask_ratio``
of the row's valid positions. Each window independently gets a kind:

    80%  masked   -> its inputs become the learned [MASK] token
    10%  replaced -> its inputs are copied from another window of the same row (same length,
                     disjoint from it, all valid positions): a row is one video's segment
    10%  kept     -> inputs unchanged

and every position of every window is a loss position (``chosen``). A replaced window with no
possible source (row too short) is demoted to kept.

Three ways to place windows:

* :func:`dynamic_window_mask` (TR-SUM): inside shots. A "shot" is a maximal run of equal shot
  id within the row (for a dilated segment, the part of the shot that the row samples); its
  window length is ``max(1, round(window_ratio * run length))`` (round half up).
* :func:`fixed_window_mask` (ablation): ``window_len`` positions inside runs of valid positions,
  ignoring shots (clipped to the run length when a run is shorter).
* :func:`random_mask` (ablation): single frames, exactly ``round(mask_ratio * n_valid)`` per row.

Window drawing runs in rounds, not per frame: each round every unfinished row draws
``candidates`` windows at once (a random run, uniformly over the row's runs, then a random offset
in it), keeps those that overlap neither earlier windows nor an earlier candidate of the same
round, and accepts them in order while accepting brings the covered count closer to the target
(``2*covered + w <= 2*target``; the first window of a row is always accepted, so every row with
a valid position gets at least one). Hence the final coverage is within half a window above the
target, or below it only when no free place remains or ``max_rounds`` runs out. The only Python
loop is over these rounds (a handful; each is O(B * candidates * L) tensor work on the input's
device). All randomness comes from ``generator`` and is drawn on *its* device (then moved to the
input's), so a CPU generator gives identical plans for CPU and GPU inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

KIND_MASKED, KIND_REPLACED, KIND_KEPT = 0, 1, 2
P_MASKED, P_REPLACED = 0.8, 0.1  # kept = the remaining 0.1


@dataclass
class MaskPlan:
    """Where to mask, for a batch of B rows of length L.

    chosen:      (B, L) bool, loss positions (every position of every window)
    masked:      (B, L) bool, inputs replaced by the [MASK] token
    replace_src: (B, L) long, row position to copy the input from, -1 where not replaced
    windows:     (N, 4) long, one line per window: row, start, length, kind (KIND_*),
                 sorted by (row, start)
    """

    chosen: torch.Tensor
    masked: torch.Tensor
    replace_src: torch.Tensor
    windows: torch.Tensor


# ---------------------------------------------------------------- input checks


def _check_ratio(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
        raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")
    return float(value)


def _check_generator(generator: torch.Generator | None) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")


def _rand(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Uniform [0, 1) numbers drawn on the generator's own device, then moved to ``device``.

    A CPU generator therefore gives the same plan for CPU and GPU inputs (at the cost of a small
    host-to-device copy per draw); a CUDA generator keeps everything on the GPU.
    """
    source = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=source).to(device)


def _check_valid(valid: torch.Tensor) -> None:
    if not isinstance(valid, torch.Tensor) or valid.dim() != 2 or valid.dtype != torch.bool:
        got = f"{valid.dtype} {tuple(valid.shape)}" if isinstance(valid, torch.Tensor) else type(valid).__name__
        raise ValueError(f"valid must be a bool tensor (B, L), got {got}")


def _round_half_up(x: torch.Tensor) -> torch.Tensor:
    return torch.floor(x + 0.5).long()


def _target_counts(n_valid: torch.Tensor, mask_ratio: float) -> torch.Tensor:
    """(B,) positions to cover per row: round(mask_ratio * n_valid), at least 1 if n_valid > 0."""
    target = _round_half_up(n_valid.double() * mask_ratio)
    return torch.where(n_valid > 0, target.clamp(min=1), 0)


# ---------------------------------------------------------------- runs and window drawing


def _runs(run_key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Maximal runs of equal non-negative ``run_key`` in each row.

    run_key: (B, L) long, -1 = invalid. Returns n_runs (B,), run_start (B, R), run_len (B, R)
    with R = max n_runs (at least 1); table entries past n_runs are 0.
    """
    B, L = run_key.shape
    valid = run_key >= 0
    prev = torch.cat([torch.full_like(run_key[:, :1], -2), run_key[:, :-1]], dim=1)
    is_start = valid & (run_key != prev)
    run_idx = torch.cumsum(is_start.long(), dim=1) - 1  # run of each position (garbage where invalid)
    n_runs = is_start.sum(dim=1)
    R = max(int(n_runs.max()), 1) if B else 1
    run_start = torch.zeros(B, R, dtype=torch.long, device=run_key.device)
    rows, cols = torch.nonzero(is_start, as_tuple=True)
    run_start[rows, run_idx[rows, cols]] = cols
    run_len = torch.zeros(B, R, dtype=torch.long, device=run_key.device)
    run_len.scatter_add_(1, run_idx.clamp(min=0), valid.long())
    return n_runs, run_start, run_len


def _draw_windows(run_key: torch.Tensor, run_win: torch.Tensor, n_runs: torch.Tensor, run_start: torch.Tensor,
                  run_len: torch.Tensor, target: torch.Tensor, generator: torch.Generator | None,
                  candidates: int, max_rounds: int) -> torch.Tensor:
    """Non-overlapping windows inside runs, about ``target`` positions per row (see module doc).

    run_win: (B, R) window length of each run (1 <= run_win <= run_len for real runs).
    Returns (N, 3) long: row, start, length.
    """
    B, L = run_key.shape
    device = run_key.device
    K = candidates
    positions = torch.arange(L, device=device)
    earlier = torch.ones(K, K, dtype=torch.bool, device=device).tril(-1)  # [j, i]: i drawn before j
    real_run = torch.arange(run_win.shape[1], device=device)[None, :] < n_runs[:, None]
    min_win = torch.where(real_run, run_win, L + 1).min(dim=1).values  # (B,)
    covered = torch.zeros(B, L, dtype=torch.bool, device=device)
    n_cov = torch.zeros(B, dtype=torch.long, device=device)
    done = (target <= 0) | (n_runs == 0)
    found = []
    for _ in range(max_rounds):
        if bool(done.all()):
            break
        u_run = _rand((B, K), generator, device)
        u_off = _rand((B, K), generator, device)
        run = (u_run * n_runs[:, None]).long().clamp(max=(n_runs - 1).clamp(min=0)[:, None])
        length = run_win.gather(1, run)
        slack = run_len.gather(1, run) - length + 1
        start = run_start.gather(1, run) + (u_off * slack).long().clamp(min=0).minimum((slack - 1).clamp(min=0))
        end = start + length
        # overlap with windows of earlier rounds, via prefix sums of coverage
        cum = torch.cat([torch.zeros(B, 1, dtype=torch.long, device=device), covered.long().cumsum(1)], dim=1)
        free = (cum.gather(1, end.clamp(max=L)) - cum.gather(1, start.clamp(max=L))) == 0
        # overlap with an earlier candidate of this round (accepted or not: keeps it vectorized)
        intersects = (start[:, :, None] < end[:, None, :]) & (start[:, None, :] < end[:, :, None])
        clash = (intersects & earlier).any(dim=2)
        survive = free & ~clash & ~done[:, None]
        surv_len = length * survive
        before = n_cov[:, None] + torch.cumsum(surv_len, dim=1) - surv_len  # counts survivors, so >= real
        accept = survive & ((before == 0) | (2 * before + length <= 2 * target[:, None]))
        if bool(accept.any()):
            rows, k = torch.nonzero(accept, as_tuple=True)
            found.append(torch.stack([rows, start[rows, k], length[rows, k]], dim=1))
            inside = (positions >= start[..., None]) & (positions < end[..., None]) & accept[..., None]
            covered |= inside.any(dim=1)
            n_cov = covered.sum(dim=1)
        done = done | ((n_cov > 0) & (2 * (target - n_cov) < min_win))
    if not found:
        return torch.zeros(0, 3, dtype=torch.long, device=device)
    windows = torch.cat(found)
    order = torch.argsort(windows[:, 0] * L + windows[:, 1])
    return windows[order]


# ---------------------------------------------------------------- kinds and plan


def _plan_from_windows(windows: torch.Tensor, valid: torch.Tensor, generator: torch.Generator | None) -> MaskPlan:
    """Give each window a kind (80/10/10), a source for replaced ones, and paint the (B, L) plan."""
    B, L = valid.shape
    device = valid.device
    rows, starts, lengths = windows[:, 0], windows[:, 1], windows[:, 2]
    u = _rand((windows.shape[0],), generator, device)
    kind = torch.full_like(rows, KIND_KEPT)
    kind[u < P_MASKED + P_REPLACED] = KIND_REPLACED
    kind[u < P_MASKED] = KIND_MASKED

    # sources for replaced windows: a start p in the same row with p..p+w-1 all valid, disjoint
    # from the window itself; uniform over such p
    rep = torch.nonzero(kind == KIND_REPLACED).flatten()
    src_start = torch.full_like(rows, -1)
    if rep.numel():
        r_row, r_start, r_len = rows[rep], starts[rep], lengths[rep]
        valid_cum = torch.cat([torch.zeros(B, 1, dtype=torch.long, device=device), valid.long().cumsum(1)], dim=1)
        p = torch.arange(L, device=device)[None, :].expand(rep.numel(), L)
        p_end = p + r_len[:, None]
        in_row = p_end <= L
        cum_rows = valid_cum[r_row]  # (n_rep, L + 1)
        all_valid = (cum_rows.gather(1, p_end.clamp(max=L)) - cum_rows.gather(1, p)) == r_len[:, None]
        disjoint = (p_end <= r_start[:, None]) | (p >= (r_start + r_len)[:, None])
        ok = in_row & all_valid & disjoint
        scores = _rand((rep.numel(), L), generator, device).masked_fill(~ok, -1.0)
        has_src = ok.any(dim=1)
        src_start[rep] = torch.where(has_src, scores.argmax(dim=1), -1)
        kind[rep[~has_src]] = KIND_KEPT

    # expand windows to positions (windows are disjoint, so every position is written once)
    n_pos = int(lengths.sum())
    win_of_pos = torch.repeat_interleave(torch.arange(windows.shape[0], device=device), lengths, output_size=n_pos)
    offset = torch.arange(n_pos, device=device) - (torch.cumsum(lengths, 0) - lengths)[win_of_pos]
    pos_row, pos_col = rows[win_of_pos], starts[win_of_pos] + offset
    chosen = torch.zeros(B, L, dtype=torch.bool, device=device)
    masked = torch.zeros(B, L, dtype=torch.bool, device=device)
    replace_src = torch.full((B, L), -1, dtype=torch.long, device=device)
    chosen[pos_row, pos_col] = True
    masked[pos_row, pos_col] = kind[win_of_pos] == KIND_MASKED
    pos_kind_rep = kind[win_of_pos] == KIND_REPLACED
    replace_src[pos_row, pos_col] = torch.where(pos_kind_rep, src_start[win_of_pos] + offset, -1)
    return MaskPlan(chosen, masked, replace_src, torch.cat([windows, kind[:, None]], dim=1))


# ---------------------------------------------------------------- public API


def dynamic_window_mask(shot_ids: torch.Tensor, mask_ratio: float, window_ratio: float,
                        generator: torch.Generator | None = None, *, candidates: int = 8,
                        max_rounds: int = 64) -> MaskPlan:
    """TR-SUM dynamic windows: length ``max(1, round(window_ratio * shot run length))`` inside shots.

    shot_ids: (B, L) long, shot of each position, -1 at pads. See the module doc for the drawing.
    """
    if not isinstance(shot_ids, torch.Tensor) or shot_ids.dim() != 2 or shot_ids.dtype != torch.long:
        is_tensor = isinstance(shot_ids, torch.Tensor)
        got = f"{shot_ids.dtype} {tuple(shot_ids.shape)}" if is_tensor else type(shot_ids).__name__
        raise ValueError(f"shot_ids must be a long tensor (B, L) with -1 at pads, got {got}")
    if bool((shot_ids < -1).any()):
        raise ValueError("shot_ids must be >= 0, or -1 at pads")
    mask_ratio, window_ratio = _check_ratio("mask_ratio", mask_ratio), _check_ratio("window_ratio", window_ratio)
    _check_generator(generator)
    _check_rounds(candidates, max_rounds)
    n_runs, run_start, run_len = _runs(shot_ids)
    run_win = _round_half_up(run_len.double() * window_ratio).clamp(min=1).minimum(run_len.clamp(min=1))
    target = _target_counts((shot_ids >= 0).sum(dim=1), mask_ratio)
    windows = _draw_windows(shot_ids, run_win, n_runs, run_start, run_len, target, generator, candidates, max_rounds)
    return _plan_from_windows(windows, shot_ids >= 0, generator)


def fixed_window_mask(valid: torch.Tensor, mask_ratio: float, window_len: int,
                      generator: torch.Generator | None = None, *, candidates: int = 8,
                      max_rounds: int = 64) -> MaskPlan:
    """Ablation: windows of ``window_len`` positions ignoring shots (never crossing padding).

    valid: (B, L) bool, True = real position.
    """
    _check_valid(valid)
    mask_ratio = _check_ratio("mask_ratio", mask_ratio)
    if isinstance(window_len, bool) or not isinstance(window_len, int) or window_len < 1:
        raise ValueError(f"window_len must be a positive integer, got {window_len!r}")
    _check_generator(generator)
    _check_rounds(candidates, max_rounds)
    run_key = torch.where(valid, 0, -1)
    n_runs, run_start, run_len = _runs(run_key)
    run_win = run_len.clamp(min=1).clamp(max=window_len)
    target = _target_counts(valid.sum(dim=1), mask_ratio)
    windows = _draw_windows(run_key, run_win, n_runs, run_start, run_len, target, generator, candidates, max_rounds)
    return _plan_from_windows(windows, valid, generator)


def random_mask(valid: torch.Tensor, mask_ratio: float, generator: torch.Generator | None = None) -> MaskPlan:
    """Ablation: exactly ``max(1, round(mask_ratio * n_valid))`` single frames per row, uniformly.

    valid: (B, L) bool, True = real position.
    """
    _check_valid(valid)
    mask_ratio = _check_ratio("mask_ratio", mask_ratio)
    _check_generator(generator)
    target = _target_counts(valid.sum(dim=1), mask_ratio)
    scores = _rand(tuple(valid.shape), generator, valid.device).masked_fill(~valid, 2.0)
    rank = scores.argsort(dim=1).argsort(dim=1)
    rows, cols = torch.nonzero((rank < target[:, None]) & valid, as_tuple=True)
    windows = torch.stack([rows, cols, torch.ones_like(rows)], dim=1)
    return _plan_from_windows(windows, valid, generator)


def _check_rounds(candidates: int, max_rounds: int) -> None:
    for name, value in (("candidates", candidates), ("max_rounds", max_rounds)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def apply_mask(x: torch.Tensor, plan: MaskPlan, mask_token: torch.Tensor | None) -> torch.Tensor:
    """Inputs as the generator should see them.

    x: (B, L, D) original features; mask_token: (D,) or None. Replaced positions copy ``x``
    (original features) from ``plan.replace_src`` in the same row; masked positions become
    ``mask_token`` (gradients flow into it), or stay as they are with None: for a model that
    substitutes its token itself (``Generator(mask=plan.masked)`` does, after its input
    projection, which spares the backward pass a (B, L, D) gradient). Returns a new tensor, or
    ``x`` itself when there is nothing to change.
    """
    if x.dim() != 3 or plan.chosen.shape != x.shape[:2]:
        raise ValueError(f"x must be (B, L, D) matching the plan's {tuple(plan.chosen.shape)}, got {tuple(x.shape)}")
    if mask_token is not None and mask_token.shape != (x.shape[2],):
        raise ValueError(f"mask_token must have shape ({x.shape[2]},), got {tuple(mask_token.shape)}")
    src = plan.replace_src.to(x.device)
    out = x
    rows, pos = (src >= 0).nonzero(as_tuple=True)
    if len(rows):  # replaced steps are few: copy those rows only
        out = x.clone()
        out[rows, pos] = x[rows, src[rows, pos]]
    if mask_token is None:
        return out
    return torch.where(plan.masked.to(x.device)[..., None], mask_token.to(x.dtype), out)
