"""A small transaction simulator for tests and demos, after the Fraud Detection Handbook's description.

Customers spend around their own mean amount at terminals of their own; frauds follow the Handbook's
three scenarios: (1) any amount over 220, (2) every transaction at a compromised terminal for 28
days, (3) a third of a compromised customer's transactions for 14 days, amounts times five.
Written from that description (no code of the Handbook), seeded, small: thousands of rows, not millions.

Not here: anything the app serves; the real data lives in shared/data and is never committed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def simulate_transactions(*, num_customers: int = 300, num_terminals: int = 1000, num_days: int = 60,
                          start: str = "2018-04-01", seed: int = 0, compromised_terminals_per_day: int = 1,
                          compromised_customers_per_day: int = 1) -> pd.DataFrame:
    """A frame with the source columns, sorted by time, ids in time order."""
    rng = np.random.default_rng(seed)
    mean_amount = rng.uniform(5, 100, num_customers)
    per_day = rng.uniform(0, 4, num_customers)
    own_terminals = [rng.choice(num_terminals, size=8, replace=False) for _ in range(num_customers)]
    rows = []
    for day in range(num_days):
        for customer in range(num_customers):
            for _ in range(rng.poisson(per_day[customer])):
                second = int(np.clip(rng.normal(DAY_HALF, 20_000), 0, 86_399))
                amount = max(0.0, round(float(rng.normal(mean_amount[customer], mean_amount[customer] / 2)), 2))
                rows.append((day * 86_400 + second, customer, int(rng.choice(own_terminals[customer])), amount))
    frame = pd.DataFrame(rows, columns=["TX_TIME_SECONDS", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT"])
    frame = frame.sort_values(["TX_TIME_SECONDS", "CUSTOMER_ID"], kind="stable").reset_index(drop=True)
    frame.insert(0, "TRANSACTION_ID", np.arange(len(frame)))
    frame.insert(1, "TX_DATETIME", pd.Timestamp(start) + pd.to_timedelta(frame["TX_TIME_SECONDS"], unit="s"))
    frame["TX_TIME_DAYS"] = frame["TX_TIME_SECONDS"] // 86_400
    scenario = np.where(frame["TX_AMOUNT"] > 220, 1, 0)
    days = frame["TX_TIME_DAYS"].to_numpy()
    for day in range(num_days):
        for terminal in rng.choice(num_terminals, compromised_terminals_per_day, replace=False):
            hit = (frame["TERMINAL_ID"].to_numpy() == terminal) & (days >= day) & (days < day + 28)
            scenario[hit] = 2
        for customer in rng.choice(num_customers, compromised_customers_per_day, replace=False):
            candidates = np.flatnonzero((frame["CUSTOMER_ID"].to_numpy() == customer) & (days >= day) & (days < day + 14))
            chosen: Any = rng.choice(candidates, len(candidates) // 3, replace=False) if len(candidates) >= 3 else []
            frame.loc[chosen, "TX_AMOUNT"] = (frame.loc[chosen, "TX_AMOUNT"] * 5).round(2)
            scenario[chosen] = 3
    frame["TX_FRAUD"] = (scenario > 0).astype(int)
    frame["TX_FRAUD_SCENARIO"] = scenario
    return frame


DAY_HALF = 43_200
