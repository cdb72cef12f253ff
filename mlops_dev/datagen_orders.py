"""A synthetic stream of shop orders, cut into consecutive batches: what a producer lands day
after day, so that a contract drafted from the first batch can be tried on the next ones.

Unlike `datagen` (independent draws of a spec's concept), this process goes on: order ids grow
(with gaps, as cancelled orders leave them), timestamps move forward, money is never negative
and counts are whole numbers. The label (`refunded`) depends on the amount, the channel and
whether the customer returns, never on the id or the time.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

CHANNELS = ("web", "app", "store", "phone")
TARGET = "refunded"
_FIRST_ID = 100_000
_START = datetime(2026, 1, 1, tzinfo=UTC)
_MEAN_GAP_S = 90.0  # seconds between two orders, on average


def order_batches(batches: int, rows: int, *, seed: int = 0) -> list[pd.DataFrame]:
    """`batches` frames of `rows` orders each, in order: batch k + 1 starts where k ended."""
    if batches < 0 or rows < 1:
        raise ValueError(f"need batches >= 0 and rows >= 1, got {batches} and {rows}")
    stream = _orders(batches * rows, np.random.default_rng(seed))
    return [stream.iloc[k * rows:(k + 1) * rows].reset_index(drop=True) for k in range(batches)]


def _orders(n: int, rng: np.random.Generator) -> pd.DataFrame:
    order_id = _FIRST_ID + np.cumsum(rng.integers(1, 4, n))
    seconds = np.cumsum(rng.exponential(_MEAN_GAP_S, n))
    created_at = pd.Timestamp(_START) + pd.to_timedelta(np.round(seconds, 3), unit="s")
    amount = np.round(rng.gamma(4.0, 20.0, n), 2)
    items = 1 + rng.poisson(1.5, n)
    # free shipping above 60; below it a flat fee, waived for some orders
    shipping = np.where(amount >= 60, 0.0, rng.choice([0.0, 4.99, 9.99], n, p=[0.2, 0.5, 0.3]))
    returning = rng.random(n) < 0.4
    channel = rng.choice(len(CHANNELS), n, p=[0.45, 0.3, 0.15, 0.1])
    logit = -2.2 + 0.012 * (amount - 80) - 0.6 * returning + np.array([0.0, 0.3, -0.8, 0.5])[
        channel]
    refunded = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64")
    return pd.DataFrame({
        "order_id": order_id.astype("int64"),
        "created_at": created_at,
        "amount": amount,
        "shipping_fee": shipping,
        "items": items.astype("int64"),
        "returning_customer": returning,
        "channel": pd.Categorical.from_codes(channel, categories=list(CHANNELS)),
        TARGET: refunded,
    })
