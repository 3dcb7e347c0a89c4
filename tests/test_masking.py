import math

import pytest
import torch

from vidsum.masking import (
    KIND_KEPT,
    KIND_MASKED,
    KIND_REPLACED,
    MaskPlan,
    apply_mask,
    dynamic_window_mask,
    fixed_window_mask,
    random_mask,
)


def _shot_rows(B=64, L=128, seed=0, pad_from=None):
    """(B, L) shot ids from random shot lengths 1..24; rows with ``pad_from`` get -1 after it."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(B):
        lengths = torch.randint(1, 25, (L,), generator=g)
        rows.append(torch.repeat_interleave(torch.arange(L), lengths)[:L])
    shots = torch.stack(rows)
    if pad_from is not None:
        for b, start in pad_from.items():
            shots[b, start:] = -1
    return shots


def _runs_of(row):
    """[(start, length)] of maximal runs of equal non-negative values."""
    runs, t = [], 0
    while t < len(row):
        if row[t] < 0:
            t += 1
            continue
        s = t
        while t < len(row) and row[t] == row[s]:
            t += 1
        runs.append((s, t - s))
    return runs


def _check_plan_consistent(plan: MaskPlan, valid):
    """Structural invariants shared by all masking functions."""
    B, L = valid.shape
    w = plan.windows
    assert plan.chosen.dtype == torch.bool and plan.replace_src.dtype == torch.long
    assert not (plan.chosen & ~valid).any(), "a window touches padding"
    assert not (plan.masked & ~plan.chosen).any() and not ((plan.replace_src >= 0) & ~plan.chosen).any()
    assert not (plan.masked & (plan.replace_src >= 0)).any()
    paint = torch.zeros(B, L, dtype=torch.long)
    for row, start, length, kind in w.tolist():
        paint[row, start:start + length] += 1
        seg = slice(start, start + length)
        assert plan.masked[row, seg].all() == (kind == KIND_MASKED)
        src = plan.replace_src[row, seg]
        if kind == KIND_REPLACED:
            # contiguous copy from a disjoint, valid place of the same row
            assert torch.equal(src, torch.arange(int(src[0]), int(src[0]) + length))
            assert int(src[0]) + length <= start or int(src[0]) >= start + length
            assert valid[row, src].all()
        else:
            assert torch.all(src == -1)
    assert paint.max() <= 1, "windows overlap"
    assert torch.equal(paint.bool(), plan.chosen)


def test_dynamic_windows_statistics():
    L, mask_ratio, window_ratio = 128, 0.5, 0.3
    shots = _shot_rows(B=64, L=L, pad_from={1: 90, 5: 3, 7: 60})
    plan = dynamic_window_mask(shots, mask_ratio, window_ratio, torch.Generator().manual_seed(1))
    valid = shots >= 0
    _check_plan_consistent(plan, valid)
    n_valid = valid.sum(1)
    coverage = plan.chosen.sum(1)
    # every row within half a window of its target; overall fraction close to the ratio
    target = torch.floor(n_valid * mask_ratio + 0.5)
    assert torch.all((coverage - target).abs() <= 4), (coverage - target)
    assert abs(coverage.sum().item() / n_valid.sum().item() - mask_ratio) < 0.02
    # window lengths = max(1, round(D_R * shot run length)), inside one shot run
    for row, start, length, _ in plan.windows.tolist():
        run = [(s, n) for s, n in _runs_of(shots[row].tolist()) if s <= start < s + n]
        assert len(run) == 1
        s, n = run[0]
        assert start + length <= s + n, "window crosses a shot boundary"
        assert length == max(1, math.floor(window_ratio * n + 0.5))
    # 80/10/10 over windows (n ~ 1100): binomial sd of the 10% share is ~0.9 points
    kinds = plan.windows[:, 3].bincount(minlength=3).double() / plan.windows.shape[0]
    assert plan.windows.shape[0] > 1000
    assert abs(kinds[KIND_MASKED] - 0.8) < 0.03
    assert abs(kinds[KIND_REPLACED] - 0.1) < 0.025 and abs(kinds[KIND_KEPT] - 0.1) < 0.025


def test_dynamic_windows_deterministic_and_seed_dependent():
    shots = _shot_rows(B=4, L=64)
    a = dynamic_window_mask(shots, 0.4, 0.5, torch.Generator().manual_seed(3))
    b = dynamic_window_mask(shots, 0.4, 0.5, torch.Generator().manual_seed(3))
    c = dynamic_window_mask(shots, 0.4, 0.5, torch.Generator().manual_seed(4))
    assert torch.equal(a.windows, b.windows) and torch.equal(a.replace_src, b.replace_src)
    assert not torch.equal(a.chosen, c.chosen)


def test_dynamic_windows_small_rows():
    # a single 1-step row still gets its one window; one long shot gets windows of round(0.5*6)=3
    plan = dynamic_window_mask(torch.tensor([[0, -1, -1]]), 0.15, 0.3, torch.Generator().manual_seed(0))
    assert plan.chosen.tolist() == [[True, False, False]]
    assert plan.windows[0, 3] != KIND_REPLACED  # no other place to copy from -> demoted to kept
    plan = dynamic_window_mask(torch.zeros(1, 6, dtype=torch.long), 0.5, 0.5, torch.Generator().manual_seed(0))
    assert plan.windows[:, 2].tolist() == [3] and plan.chosen.sum() == 3


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(shot_ids=torch.zeros(2, 3)), "long tensor"),
        (dict(shot_ids=torch.zeros(6, dtype=torch.long)), "long tensor"),
        (dict(shot_ids=torch.full((1, 3), -2)), ">= 0, or -1"),
        (dict(mask_ratio=0.0), "mask_ratio"),
        (dict(mask_ratio=1.5), "mask_ratio"),
        (dict(window_ratio=-0.1), "window_ratio"),
        (dict(candidates=0), "candidates"),
        (dict(max_rounds=1.5), "max_rounds"),
    ],
)
def test_dynamic_windows_errors(kwargs, match):
    args = dict(shot_ids=torch.zeros(2, 3, dtype=torch.long), mask_ratio=0.5, window_ratio=0.3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        dynamic_window_mask(**args)


def test_bad_generator():
    with pytest.raises(ValueError, match="torch.Generator or None"):
        random_mask(torch.ones(1, 4, dtype=torch.bool), 0.5, 123)


def test_cpu_generator_gives_same_plan_on_gpu():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    shots = _shot_rows(B=8, L=64)
    cpu = dynamic_window_mask(shots, 0.5, 0.3, torch.Generator().manual_seed(5))
    gpu = dynamic_window_mask(shots.cuda(), 0.5, 0.3, torch.Generator().manual_seed(5))
    assert gpu.chosen.is_cuda and torch.equal(cpu.windows, gpu.windows.cpu())
    assert torch.equal(cpu.replace_src, gpu.replace_src.cpu())
    cuda_gen = random_mask(shots.cuda() >= 0, 0.5, torch.Generator(device="cuda").manual_seed(0))
    assert cuda_gen.chosen.is_cuda


def test_random_mask_exact_counts_and_split():
    valid = torch.ones(64, 100, dtype=torch.bool)
    valid[3, 40:] = False
    plan = random_mask(valid, 0.15, torch.Generator().manual_seed(0))
    _check_plan_consistent(plan, valid)
    expect = torch.floor(valid.sum(1) * 0.15 + 0.5)
    assert torch.equal(plan.chosen.sum(1), expect.long())
    assert torch.all(plan.windows[:, 2] == 1)
    share = plan.windows[:, 3].bincount(minlength=3).double() / plan.windows.shape[0]
    assert abs(share[KIND_MASKED] - 0.8) < 0.04 and abs(share[KIND_REPLACED] - 0.1) < 0.03
    # chosen frames are spread uniformly: both halves of the rows get about half
    left = plan.chosen[:, :50].sum().item() / plan.chosen.sum().item()
    assert 0.4 < left < 0.65


def test_random_mask_errors():
    with pytest.raises(ValueError, match="bool tensor"):
        random_mask(torch.ones(2, 3), 0.5)
    with pytest.raises(ValueError, match="mask_ratio"):
        random_mask(torch.ones(2, 3, dtype=torch.bool), 2.0)


def test_fixed_window_mask():
    valid = torch.ones(32, 128, dtype=torch.bool)
    valid[0, 70:] = False
    valid[1, 2:] = False  # row shorter than the window: clipped to the row
    plan = fixed_window_mask(valid, 0.5, 5, torch.Generator().manual_seed(2))
    _check_plan_consistent(plan, valid)
    lengths = plan.windows[plan.windows[:, 0] != 1, 2]
    assert torch.all(lengths == 5)
    assert plan.windows[plan.windows[:, 0] == 1, 2].tolist() == [2]
    frac = plan.chosen[2:].sum().item() / valid[2:].sum().item()
    assert abs(frac - 0.5) < 0.02
    with pytest.raises(ValueError, match="window_len"):
        fixed_window_mask(valid, 0.5, 0)
    with pytest.raises(ValueError, match="bool tensor"):
        fixed_window_mask(valid.long(), 0.5, 3)


def test_apply_mask():
    x = torch.arange(2 * 6 * 3, dtype=torch.float32).view(2, 6, 3)
    token = torch.full((3,), -7.0, requires_grad=True)
    plan = MaskPlan(
        chosen=torch.tensor([[1, 1, 0, 0, 1, 0], [0, 0, 0, 0, 0, 1]], dtype=torch.bool),
        masked=torch.tensor([[1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], dtype=torch.bool),
        replace_src=torch.tensor([[-1, -1, -1, -1, 2, -1], [-1, -1, -1, -1, -1, -1]]),
        windows=torch.zeros(0, 4, dtype=torch.long),
    )
    out = apply_mask(x, plan, token)
    assert torch.all(out[0, :2] == -7.0)
    assert torch.equal(out[0, 4], x[0, 2])  # copied from the original features of row 0
    assert torch.equal(out[0, [2, 3, 5]], x[0, [2, 3, 5]]) and torch.equal(out[1], x[1])  # kept as is
    out.sum().backward()
    assert torch.all(token.grad == 2.0)
    no_token = apply_mask(x, plan, None)  # the model substitutes its token itself
    assert torch.equal(no_token[0, :2], x[0, :2]) and torch.equal(no_token[0, 4], x[0, 2])
    assert torch.equal(no_token[0, [2, 3, 5]], x[0, [2, 3, 5]]) and torch.equal(no_token[1], x[1])
    with pytest.raises(ValueError, match="mask_token"):
        apply_mask(x, plan, torch.zeros(4))
    with pytest.raises(ValueError, match="matching the plan"):
        apply_mask(x[:1], plan, token)


def test_apply_mask_with_drawn_plan():
    shots = _shot_rows(B=8, L=32)
    x = torch.randn(8, 32, 4, generator=torch.Generator().manual_seed(0))
    plan = dynamic_window_mask(shots, 0.5, 0.5, torch.Generator().manual_seed(0))
    out = apply_mask(x, plan, torch.zeros(4))
    rep = plan.replace_src >= 0
    rows = torch.arange(8)[:, None].expand(8, 32)
    assert torch.equal(out[rep], x[rows[rep], plan.replace_src[rep]])
    assert torch.all(out[plan.masked] == 0) and torch.equal(out[~plan.chosen], x[~plan.chosen])
