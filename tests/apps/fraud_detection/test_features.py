"""One feature definition: batch aggregates over a whole history equal the online state's, row by row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from apps.fraud_detection.features.batch import aggregate, compute_features, sort_history
from apps.fraud_detection.features.definition import AGGREGATES, DAY, FEATURE_NAMES, FeatureConfig, derive
from apps.fraud_detection.features.online import FeatureState
from apps.fraud_detection.schema import validate_frame
from apps.fraud_detection.simulate import simulate_transactions


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    raw = simulate_transactions(num_customers=40, num_terminals=60, num_days=50, seed=3)
    # same-second ties across customers and terminals, ids out of time order
    raw.loc[raw.index[100:110], "TX_DATETIME"] = raw.loc[raw.index[100], "TX_DATETIME"]
    raw["TRANSACTION_ID"] = raw["TRANSACTION_ID"].to_numpy()[::-1]
    return sort_history(validate_frame(raw))


@pytest.mark.parametrize("delay_days", [7, 2])
def test_batch_and_online_give_the_same_features_for_every_transaction(history: pd.DataFrame, delay_days: int) -> None:
    config = FeatureConfig(label_delay_days=delay_days)
    batch = aggregate(history, config)
    batch_features = compute_features(history, config)
    state = FeatureState(config)
    checked = 0
    for i, row in enumerate(history.itertuples(index=False)):
        args = (int(row.TRANSACTION_ID), row.TX_DATETIME, int(row.CUSTOMER_ID), int(row.TERMINAL_ID), float(row.TX_AMOUNT))
        online = state.aggregates(*args)
        mismatched = [n for n in AGGREGATES if online[n][0] != batch[n][i]]
        assert not mismatched, f"row {i}: {[(n, online[n][0], batch[n][i]) for n in mismatched]}"
        features = state.features(*args)
        assert np.array_equal(np.array([features[n] for n in FEATURE_NAMES]),
                              batch_features.iloc[i].to_numpy(), equal_nan=True), f"row {i}"
        state.add(*args, label=int(row.TX_FRAUD))
        checked += 1
    assert checked == len(history) > 1000
    # the history exercises every window: known frauds reached terminals, velocity was above one
    assert batch["terminal_known_fraud_7d"].max() > 0 and batch["customer_n_1h"].max() > 1
    assert batch["customer_high_n_7d"].max() > 0 and (batch["customer_high_n_14d"] > batch["customer_high_n_7d"]).any()


def test_high_amount_counts_at_every_window_edge() -> None:
    """A transaction is high when its amount is over 3x the customer's mean of the 7 days before it (open lower
    edge, at least one); later transactions count the high ones in (t - 7 days, t) and (t - 14 days, t)."""
    t0 = pd.Timestamp("2018-04-02 12:00:00")
    days = [0, 7, 8, 9, 15, 16, 22, 23]
    # B (day 7, 31): A is exactly 7 days back, outside the base, so B has no base and is not high (31 > 3 x 10 if it were in).
    # C (day 8, 93): exactly 3 x B's 31, not over it. D (day 9, 200): over 3 x mean(31, 93) = 186: the one high transaction.
    amounts = [10.0, 31.0, 93.0, 200.0, 10.0, 10.0, 10.0, 10.0]
    rows = pd.DataFrame({"TRANSACTION_ID": range(1, 9), "TX_DATETIME": [t0 + pd.Timedelta(days=d) for d in days],
                         "CUSTOMER_ID": 5, "TERMINAL_ID": 9, "TX_AMOUNT": amounts, "TX_FRAUD": 0})
    history = sort_history(validate_frame(rows))
    features = compute_features(history)
    # D counts on day 15 (6 days later) in both windows; on day 16 (exactly 7 days) only in 14 days; on day 23 (exactly 14) in neither
    expected = {"CUSTOMER_NB_HIGH_RATIO_TX_7DAY": [0, 0, 0, 0, 1, 0, 0, 0],
                "CUSTOMER_NB_HIGH_RATIO_TX_14DAY": [0, 0, 0, 0, 1, 1, 1, 0]}
    for name, values in expected.items():
        assert features[name].tolist() == values, name
    state = FeatureState()
    for i, row in enumerate(history.itertuples(index=False)):
        args = (int(row.TRANSACTION_ID), row.TX_DATETIME, 5, 9, float(row.TX_AMOUNT))
        online = state.features(*args)
        assert [online[name] for name in expected] == [values[i] for values in expected.values()], f"row {i}"
        state.add(*args)


def test_fractions_of_a_second_order_as_online_scoring_does(history: pd.DataFrame) -> None:
    """Windows count whole seconds; within a second, TRANSACTION_ID decides the order, whatever the fractions say."""
    t0 = pd.Timestamp("2018-04-02 12:00:00")
    rows = pd.DataFrame({"TRANSACTION_ID": [9, 4, 5], "TX_DATETIME": [t0 + pd.Timedelta(milliseconds=200),
                                                                      t0 + pd.Timedelta(milliseconds=700), t0 - pd.Timedelta(days=1)],
                         "CUSTOMER_ID": 5, "TERMINAL_ID": 9, "TX_AMOUNT": [10.0, 20.0, 5.0], "TX_FRAUD": 0})
    ordered = sort_history(validate_frame(rows))
    assert ordered["TRANSACTION_ID"].tolist() == [5, 4, 9]
    batch = aggregate(ordered, FeatureConfig())
    state = FeatureState()
    for i, row in enumerate(ordered.itertuples(index=False)):
        args = (int(row.TRANSACTION_ID), row.TX_DATETIME, 5, 9, float(row.TX_AMOUNT))
        online = state.aggregates(*args)
        assert all(online[n][0] == batch[n][i] for n in AGGREGATES), f"row {i}"
        state.add(*args)


def test_a_label_given_later_counts_once_it_is_visible_and_not_before(history: pd.DataFrame) -> None:
    config = FeatureConfig(label_delay_days=7)
    first = history.iloc[0]
    state = FeatureState(config)
    state.add(int(first.TRANSACTION_ID), first.TX_DATETIME, 1, 77, 10.0)  # label unknown
    assert state.set_label(int(first.TRANSACTION_ID), 1)
    args = (10**9, first.TX_DATETIME, 2, 77, 5.0)
    before = state.features(*args[:1], first.TX_DATETIME + pd.Timedelta(days=7) - pd.Timedelta(seconds=1), *args[2:])
    after = state.features(*args[:1], first.TX_DATETIME + pd.Timedelta(days=7), *args[2:])
    assert before["TERMINAL_ID_RISK_7DAY_WINDOW"] == 0.0 and before["TERMINAL_ID_NB_TX_7DAY_WINDOW"] == 0.0
    assert after["TERMINAL_ID_RISK_7DAY_WINDOW"] == 1.0 and after["TERMINAL_KNOWN_FRAUDS_7DAY_WINDOW"] == 1.0
    assert after["TERMINAL_DAYS_SINCE_KNOWN_FRAUD"] == 7.0


def test_features_never_read_the_scenario_or_the_own_label(history: pd.DataFrame) -> None:
    changed = history.copy()
    changed["TX_FRAUD_SCENARIO"] = 3
    last = changed.index[-1]
    changed.loc[last, "TX_FRAUD"] = 1 - changed.loc[last, "TX_FRAUD"]
    assert compute_features(history).equals(compute_features(changed))


def test_handbook_windows_on_a_hand_made_history() -> None:
    t0 = pd.Timestamp("2018-04-02 12:00:00")  # a Monday
    rows = pd.DataFrame({
        "TRANSACTION_ID": [1, 2, 3, 4],
        "TX_DATETIME": [t0, t0 + pd.Timedelta(hours=2), t0 + pd.Timedelta(days=8), t0 + pd.Timedelta(days=8, hours=1)],
        "CUSTOMER_ID": [5, 5, 5, 6], "TERMINAL_ID": [9, 9, 8, 9], "TX_AMOUNT": [10.0, 30.0, 80.0, 1.0],
        "TX_FRAUD": [1, 0, 0, 0],
    })
    features = compute_features(sort_history(validate_frame(rows)), FeatureConfig(label_delay_days=7))
    assert features["CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"].tolist()[:3] == [10.0, 20.0, 80.0]
    assert features["AMOUNT_TO_CUSTOMER_MEAN_30DAY"].iloc[2] == 80.0 / 20.0
    assert features["CUSTOMER_SECONDS_SINCE_PREV_TX"].iloc[1] == 7200.0
    # tx 4 (terminal 9, day 8 + 1h): tx 1 and 2 are labelled and older than 7 days; one of two was fraud
    assert features["TERMINAL_ID_RISK_7DAY_WINDOW"].iloc[3] == 0.5
    assert features["TERMINAL_ID_NB_TX_1DAY_WINDOW"].iloc[3] == 1.0  # (t-8d, t-7d]: only tx 2
    assert features["TX_DURING_WEEKEND"].iloc[0] == 0.0 and features["TX_DURING_WEEKEND"].iloc[2] == 0.0
    assert derive({n: np.array([0]) for n in AGGREGATES})["TX_DURING_WEEKEND"][0] == 0.0  # a Thursday
    assert DAY == 86_400
