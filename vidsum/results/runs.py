"""Run identity for leaderboard rows: run ids, UTC timestamps, the code's git commit."""

from __future__ import annotations

import datetime as dt
import secrets
import subprocess
from pathlib import Path


def utc_now() -> dt.datetime:
    """The current time, timezone-aware in UTC (what ``started_at`` expects)."""
    return dt.datetime.now(dt.timezone.utc)


def new_run_id() -> str:
    """A sortable, unique run id: UTC timestamp + 6 random hex digits, e.g. ``20250101T120000Z-3fa2c1``."""
    return f"{utc_now():%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def git_commit() -> str:
    """Short hash of HEAD of the git checkout this code runs from, or ``'unknown'``.

    'unknown' when git is missing, the code is not in a checkout (a plain pip install), or git
    fails for any other reason: a results row must never fail to be written because of it.
    """
    here = Path(__file__).resolve().parent
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    sha = proc.stdout.strip()
    if proc.returncode != 0 or not sha or any(c not in "0123456789abcdef" for c in sha):
        return "unknown"
    return sha
