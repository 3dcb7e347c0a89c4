"""Results: Parquet leaderboards (``leaderboard``) written by every run and read by ``vidsum report``."""
