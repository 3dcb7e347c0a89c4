"""Regenerate vidsum/data/annotations/*.npz from the official files in ../shared/data.

    python scripts/derive_annotations.py [--shared ../shared/data]
"""
import argparse
import json
from pathlib import Path

from vidsum.data import annotations

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    args = ap.parse_args()
    record = annotations.derive(args.shared, ROOT / "vidsum" / "data" / "annotations")
    print(json.dumps(record, indent=1))
