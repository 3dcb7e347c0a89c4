import subprocess
import sys


def test_core_modules_do_not_import_ray():
    code = ("import sys, vidsum, vidsum.cli, vidsum.data.datasets, vidsum.data.standin, vidsum.training.fold, "
            "vidsum.evaluation.baselines, vidsum.results.leaderboard, vidsum.shots, vidsum.summarize, vidsum.features, "
            "vidsum.results.plots; "
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_tuning_modules_import_neither_ray_nor_optuna():
    """vidsum.tuning is the Ray-free half of tune.py: its checks run before Ray starts."""
    code = ("import sys, vidsum.tuning, vidsum.tuning.space, vidsum.tuning.plan, vidsum.tuning.rows, "
            "vidsum.tuning.timeline; print(sorted(m for m in ('ray', 'optuna') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
