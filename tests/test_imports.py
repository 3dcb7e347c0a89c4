import subprocess
import sys


def test_core_modules_do_not_import_ray():
    code = ("import sys, vidsum, vidsum.cli, vidsum.data.datasets, vidsum.data.standin, vidsum.training.fold, "
            "vidsum.evaluation.baselines, vidsum.results.leaderboard, vidsum.shots, vidsum.summarize, vidsum.features, "
            "vidsum.results.plots; "
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
