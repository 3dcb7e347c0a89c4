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


def _imports(path) -> list[tuple[str, list[str]]]:
    """(module, imported names) of every import statement in a source file."""
    import ast

    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names)
    return out


def _cross_method_imports(pkg, methods=("trsum", "sgvs", "drdsn")) -> list[str]:
    """Imports in ``pkg``/{training,models}/<method>.py of another method's modules or of any
    vidsum private name."""
    problems = []
    for method in methods:
        others = {f"vidsum.{layer}.{m}" for layer in ("training", "models") for m in methods if m != method}
        for path in (pkg / "training" / f"{method}.py", pkg / "models" / f"{method}.py"):
            for module, names in _imports(path):
                from_other = module in others or (module in ("vidsum.training", "vidsum.models")
                                                  and bool(set(names) & (set(methods) - {method})))
                private = module.startswith("vidsum") and any(n.startswith("_") for n in names)
                if from_other or private:
                    problems.append(f"{path.relative_to(pkg.parent)}: from {module} import {', '.join(names)}")
    return problems


def test_no_method_module_imports_another_method_or_private_names(tmp_path):
    """A method's modules lean on the shared toolkit (vidsum.training.loop, vidsum.segments,
    vidsum.models.common), never on another method's modules or on anyone's private names."""
    import shutil
    from pathlib import Path

    pkg = Path(__file__).resolve().parents[1] / "vidsum"
    assert _cross_method_imports(pkg) == []
    # the check can fail: a copy with TR-SUM's old private helper import in SG-VS is reported
    copy = tmp_path / "vidsum"
    for layer in ("training", "models"):
        shutil.copytree(pkg / layer, copy / layer)
    bad = copy / "training" / "sgvs.py"
    bad.write_text("from vidsum.training.trsum import _batches\n" + bad.read_text())
    assert _cross_method_imports(copy) == ["vidsum/training/sgvs.py: from vidsum.training.trsum import _batches"]
