"""The one evaluator every method uses (keyshot F, Kendall/Spearman) and the reference rows."""

from vidsum.evaluation.metrics import (
    CORR_CONVENTION,
    F_REDUCE,
    evaluate,
    evaluate_video,
    f_score,
    rank_correlation,
)
from vidsum.evaluation.summary import (
    keyshot_summary,
    knapsack,
    shot_scores,
    step_to_frame_scores,
    summarize_video,
)

__all__ = [
    "CORR_CONVENTION",
    "F_REDUCE",
    "evaluate",
    "evaluate_video",
    "f_score",
    "keyshot_summary",
    "knapsack",
    "rank_correlation",
    "shot_scores",
    "step_to_frame_scores",
    "summarize_video",
]
