"""Shared by the benchmark scripts: write a results table to benchmarks/results/ and print it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"


def save(rows: list[dict], name: str, hide: tuple[str, ...] = ()) -> pd.DataFrame:
    """``rows`` as benchmarks/results/NAME.csv; the table (less ``hide``) printed as Markdown."""
    df = pd.DataFrame(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    df.to_csv(RESULTS / f"{name}.csv", index=False)
    print(df.drop(columns=list(hide)).to_markdown(index=False))
    return df
