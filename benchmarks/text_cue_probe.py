"""Is the stand-in's text cue there, before any training? Frame-text similarity vs gtscore.

    python benchmarks/text_cue_probe.py                          # both datasets, every cue, strengths 0.8 and 0
    python benchmarks/text_cue_probe.py --dataset summe --cues text --strengths 1,0.8,0 --feature-dim 1024

For each (dataset, cue, strength) it builds the stand-in videos in memory (the same arrays
``vidsum data build --cue C --strength S`` writes) and prints, as mean ± std over videos of the
per-video Kendall tau-b against the gtscore (steps):

* text:  ``standin.text_alignment`` -- cosine between each step's standardised features and the
         video's text direction T_v = t_v @ M_text (SG-VS's default text, WordLlama, through the
         dataset's fixed projection): the frame-text similarity of an alignment that knows M_text;
* distinct: ``standin.distinctiveness``, the label-free probe of the events cue (how much of a
         cue the other probe also sees).

Expected: text clearly > 0 for cue text / mixed at strength > 0, ~0 at strength 0 and for events.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from scipy.stats import kendalltau


def measure(dataset: str, cue: str, strength: float, feature_dim: int, seed: int) -> dict[str, float]:
    from vidsum.data import annotations, standin

    anns = annotations.load(dataset)
    keys = [a.key for a in anns]
    bases = standin.shared_bases(dataset, feature_dim, seed)
    directions = standin.text_directions(dataset, keys, feature_dim, seed) if cue != "events" else {}
    videos = {a.key: standin.build_video(dataset, i, a, strength, feature_dim, seed, bases, cue, directions.get(a.key))
              for i, a in enumerate(anns)}
    text = standin.text_cue_probe(dataset, videos, seed=seed)
    distinct = [kendalltau(standin.distinctiveness(v.features), v.gtscore).statistic for v in videos.values()]
    return {"text": text["tau"], "text_std": text["tau_std"], "distinct": float(np.nanmean(distinct)),
            "distinct_std": float(np.nanstd(distinct)), "n": len(videos)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="summe,tvsum", help="comma-separated: summe,tvsum")
    p.add_argument("--cues", default="events,text,mixed")
    p.add_argument("--strengths", default="0.8,0")
    p.add_argument("--feature-dim", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    from vidsum.data import standin

    datasets = [d for d in a.dataset.split(",") if d]
    cues = [standin.check_cue(c) for c in a.cues.split(",") if c]
    strengths = [float(s) for s in a.strengths.split(",") if s]
    print(f"stand-in probes, seed {a.seed}, D = {a.feature_dim}: Kendall tau-b vs gtscore per video, mean ± std")
    print(f"{'dataset':<8}{'cue':<8}{'strength':>9}{'videos':>8}   {'text (frame-text cos)':<22}{'distinctiveness':<18}{'s':>6}")
    for ds in datasets:
        for cue in cues:
            for s in strengths:
                t0 = time.perf_counter()
                r = measure(ds, cue, s, a.feature_dim, a.seed)
                print(f"{ds:<8}{cue:<8}{s:>9g}{r['n']:>8}   {r['text']:+.3f} ± {r['text_std']:.3f}        "
                      f"{r['distinct']:+.3f} ± {r['distinct_std']:.3f}   {time.perf_counter() - t0:>5.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
