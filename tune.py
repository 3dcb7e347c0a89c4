#!/usr/bin/env python
"""Per-fold hyperparameter search with Ray Tune + Optuna, then a scored final fit: ``python tune.py --help``.

The command lives in ``vidsum/tuning/cli.py`` (also ``vidsum tune``).
"""

import sys

from vidsum.tuning.cli import main

if __name__ == "__main__":
    sys.exit(main())
