import pytest
import torch

from vidsum.training import precision, trsum

from conftest import make_video


def test_use_bf16_follows_amp_device_and_the_switches(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.delenv(precision.CUDA_ENV, raising=False)
    assert not precision.use_bf16(True, cuda)  # CUDA: opt-in (NaN seen under bf16 on an H200)
    monkeypatch.setenv(precision.CUDA_ENV, "1")
    assert precision.use_bf16(True, cuda) and not precision.use_bf16(False, cuda)
    monkeypatch.setenv(precision.ENV, "1")
    assert precision.use_bf16(True, cpu, 128) and not precision.use_bf16(False, cpu, 1024)
    with precision.autocast(True, cpu):
        assert (torch.ones(2, 3) @ torch.ones(3, 2)).dtype == torch.bfloat16
    monkeypatch.setenv(precision.ENV, "0")
    assert not precision.use_bf16(True, cpu, 1024)
    with precision.autocast(True, cpu, 1024):
        assert (torch.ones(2, 3) @ torch.ones(3, 2)).dtype == torch.float32
    monkeypatch.setenv(precision.ENV, "yes")
    with pytest.raises(ValueError, match="VIDSUM_CPU_BF16 must be 0 or 1"):
        precision.use_bf16(True, cpu)


@pytest.mark.parametrize("units", [True, False])
def test_cpu_rule_needs_bf16_units_and_a_wide_model(monkeypatch, units):
    """Unforced, a CPU runs bf16 only with bf16 units and d_model >= CPU_BF16_MIN_WIDTH: at the
    quick width (128) a bf16 step was slower than fp32 even on chips with bf16 units."""
    monkeypatch.delenv(precision.ENV, raising=False)
    monkeypatch.setattr(precision, "cpu_bf16_units", lambda: units)
    cpu, wide = torch.device("cpu"), precision.CPU_BF16_MIN_WIDTH
    assert precision.use_bf16(True, cpu, wide) == units
    assert not precision.use_bf16(True, cpu, wide - 1) and not precision.use_bf16(True, cpu, None)
    assert not precision.use_bf16(False, cpu, wide)


def test_cpu_bf16_units_reads_the_cpu_flags(tmp_path):
    amd = tmp_path / "amd"
    amd.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n")
    old = tmp_path / "old"
    old.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    assert precision.cpu_bf16_units(str(amd)) and not precision.cpu_bf16_units(str(old))
    assert not precision.cpu_bf16_units(str(tmp_path / "missing"))  # not Linux: opt-in


def test_the_quick_presets_stay_fp32_on_any_cpu(monkeypatch):
    """The quick presets are 128 wide: the rule keeps them in fp32 even where bf16 units exist,
    so the quick main job's numbers do not depend on the chip."""
    from vidsum.training.loop import autocast
    from vidsum.training.methods import get_method

    monkeypatch.delenv(precision.ENV, raising=False)
    monkeypatch.setattr(precision, "cpu_bf16_units", lambda: True)
    for name in ("trsum", "sgvs", "drdsn"):
        with autocast(get_method(name).preset("quick", seed=0), torch.device("cpu")):
            assert (torch.ones(2, 3) @ torch.ones(3, 2)).dtype == torch.float32, name
    with autocast(trsum.preset("paper", seed=0), torch.device("cpu")):
        assert (torch.ones(2, 3) @ torch.ones(3, 2)).dtype == torch.bfloat16


def test_cpu_probe_measures_a_speedup():
    assert 0 < precision.cpu_bf16_speedup() < 100


def test_bf16_training_on_cpu_is_deterministic_with_fp32_master_weights(monkeypatch):
    """Under bf16 autocast on CPU the parameters and optimiser state stay fp32, and a seed gives
    bit-identical weights run to run (the determinism guarantee holds under bf16 too)."""
    monkeypatch.setenv(precision.ENV, "1")
    vids = [make_video(key=f"video_{i + 1}", n_frames=600, dim=12, seed=i) for i in range(3)]
    cfg = trsum.TRSumConfig.from_dict(dict(d_model=16, n_heads=2, n_layers=1, d_ff=32, segment_len=16,
                                           batch_segments=8, gen_epochs=2, rl_epochs=2, gen_lr=1e-3, rl_lr=1e-3))
    runs = []
    for _ in range(2):
        gen, _ = trsum.pretrain_generator(cfg, vids)
        summ, hist, _ = trsum.train_summarizer(cfg, vids, gen)
        runs.append((gen.state_dict(), summ.state_dict(), hist))
    (g1, s1, h1), (g2, s2, h2) = runs
    assert all(v.dtype == torch.float32 for v in [*g1.values(), *s1.values()] if v.is_floating_point())
    assert all(torch.equal(g1[k], g2[k]) for k in g1) and all(torch.equal(s1[k], s2[k]) for k in s1)
    assert [r["loss"] for r in h1] == [r["loss"] for r in h2]
    # and it is not the fp32 run: bf16 matmuls change the numbers
    monkeypatch.setenv(precision.ENV, "0")
    gen32, _ = trsum.pretrain_generator(cfg, vids)
    assert not all(torch.equal(g1[k], gen32.state_dict()[k]) for k in g1)
