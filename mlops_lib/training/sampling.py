"""Seeded row samples that keep each class's share: for reports on large data and for the
training-row cap (`training.max_train_rows`). Plain numpy, so training needs no report code."""

from __future__ import annotations

import numpy as np


def stratified_sample(y: np.ndarray, task: str, max_rows: int,
                      seed: int | list[int]) -> np.ndarray:
    """Sorted positions of at most `max_rows` rows: all rows up to `max_rows`, else a seeded
    sample, stratified by class for classification (each class keeps its share of rows,
    rounded by largest remainder, so a rare class is neither lost nor inflated)."""
    n = len(y)
    if n <= max_rows:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    if task == "regression":
        return np.sort(rng.choice(n, size=max_rows, replace=False))
    classes, inverse = np.unique(y, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(classes))
    quota = counts * max_rows / n
    take = np.floor(quota).astype(int)
    short = max_rows - int(take.sum())
    if short:
        take[np.argsort(-(quota - take), kind="stable")[:short]] += 1
    picked = [rng.choice(np.flatnonzero(inverse == i), size=int(k), replace=False)
              for i, k in enumerate(take) if k]
    return np.sort(np.concatenate(picked))
