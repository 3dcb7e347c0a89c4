"""Rewrite tests/slow_tests.txt from a full run's durations (the `slow` marker, tests/conftest.py).

    pytest --durations=0 -q -p no:cacheprovider | python scripts/slow_tests.py [--threshold 2]

Lists every test whose setup + call took more than the threshold (a module fixture's setup counts
for the first test that uses it), slowest first.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

LINE = re.compile(r"^(\d+(?:\.\d+)?)s (setup|call|teardown)\s+(\S.*?)\s*$")
OUT = Path(__file__).resolve().parents[1] / "tests" / "slow_tests.txt"
HEADER = """\
# Tests marked `slow` (tests/conftest.py): setup + call over {threshold:g} s in a full run, slowest first.
# Tests that start Ray are marked `slow` and `ray` whether listed or not. An id that no longer
# exists is ignored. Refresh: pytest --durations=0 -q -p no:cacheprovider | python scripts/slow_tests.py
"""


def slow_ids(lines, threshold: float) -> list[tuple[str, float]]:
    seconds: dict[str, float] = defaultdict(float)
    for line in lines:
        m = LINE.match(line)
        if m and m[2] != "teardown":
            seconds[m[3]] += float(m[1])
    return sorted(((k, s) for k, s in seconds.items() if s > threshold), key=lambda kv: (-kv[1], kv[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("durations", nargs="?", help="pytest --durations=0 output (default: stdin)")
    parser.add_argument("--threshold", type=float, default=2.0, help="seconds (default 2)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    lines = Path(args.durations).read_text().splitlines() if args.durations else sys.stdin.read().splitlines()
    found = slow_ids(lines, args.threshold)
    if not found:
        sys.exit("no durations found: run pytest with --durations=0 over the whole suite")
    args.out.write_text(HEADER.format(threshold=args.threshold)
                        + "".join(f"{k}  # {s:.1f} s\n" for k, s in found))
    print(f"{len(found)} slow tests -> {args.out}")


if __name__ == "__main__":
    main()
