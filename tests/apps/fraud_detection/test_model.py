"""The model: calibrated on a later slice, reasons that name the right evidence, an artefact that round-trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from apps.fraud_detection.features.batch import compute_features, sort_history
from apps.fraud_detection.features.definition import FEATURE_NAMES
from apps.fraud_detection.metrics import expected_calibration_error, reliability_table
from apps.fraud_detection.model import FraudModel, TrainConfig, fit_platt, train_model
from apps.fraud_detection.batch_scoring import score_with_reasons
from apps.fraud_detection.reasons import explain, explain_row, first_reasons, reason_accuracy
from apps.fraud_detection.schema import validate_frame
from apps.fraud_detection.simulate import simulate_transactions


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    history = sort_history(validate_frame(simulate_transactions(num_customers=300, num_terminals=1000, num_days=75, seed=2)))
    return history, compute_features(history)


@pytest.fixture(scope="module")
def model(data: tuple[pd.DataFrame, pd.DataFrame]) -> FraudModel:
    history, features = data
    fit = (history.TX_DATETIME < "2018-05-31").to_numpy()
    return train_model(features[fit], history.TX_FRAUD.to_numpy()[fit], history.TX_DATETIME[fit],
                       TrainConfig(num_rounds=80, early_stopping_rounds=20, calibration_days=10))


def test_platt_recovers_a_known_calibration() -> None:
    rng = np.random.default_rng(0)
    margin = rng.normal(-3, 2, 200_000)
    labels = rng.random(margin.size) < 1 / (1 + np.exp(-(0.5 * margin - 1.0)))
    a, b = fit_platt(margin, labels)
    assert abs(a - 0.5) < 0.03 and abs(b + 1.0) < 0.08


def test_probabilities_are_calibrated_on_later_unseen_days(data: tuple[pd.DataFrame, pd.DataFrame], model: FraudModel) -> None:
    history, features = data
    later = (history.TX_DATETIME >= "2018-06-07").to_numpy()  # past the label delay of the training window
    probabilities = model.predict_proba(features[later])
    labels = history.TX_FRAUD.to_numpy()[later]
    table = reliability_table(labels, probabilities)
    assert expected_calibration_error(table) < 0.02
    assert abs(probabilities.mean() - labels.mean()) < 0.25 * labels.mean()
    top = [row for row in table if row["low"] >= 0.5]
    assert top and all(row["observed_rate"] > 0.5 for row in top if row["count"] >= 20)


def case(features: pd.DataFrame, **changes: float) -> pd.DataFrame:
    """A typical legitimate transaction's features with ``changes`` applied."""
    row = features.median().to_frame().T
    row["CUSTOMER_DAYS_SINCE_KNOWN_FRAUD"] = np.nan
    row["TERMINAL_DAYS_SINCE_KNOWN_FRAUD"] = np.nan
    for name, value in changes.items():
        row[name] = value
    return row[FEATURE_NAMES]


def test_reasons_name_the_evidence_of_constructed_cases(data: tuple[pd.DataFrame, pd.DataFrame], model: FraudModel) -> None:
    _, features = data
    amount = case(features, TX_AMOUNT=400.0, AMOUNT_TO_CUSTOMER_MEAN_7DAY=1.1, AMOUNT_TO_CUSTOMER_MEAN_30DAY=1.0,
                  AMOUNT_CUSTOMER_ZSCORE_30DAY=0.1, **{f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW": 390.0 for w in (1, 7, 30)})
    terminal = case(features, TERMINAL_ID_RISK_7DAY_WINDOW=0.8, TERMINAL_ID_RISK_1DAY_WINDOW=1.0,
                    TERMINAL_ID_RISK_30DAY_WINDOW=0.5, TERMINAL_KNOWN_FRAUDS_7DAY_WINDOW=6.0,
                    TERMINAL_KNOWN_FRAUDS_1DAY_WINDOW=1.0, TERMINAL_DAYS_SINCE_KNOWN_FRAUD=7.2)
    customer = case(features, TX_AMOUNT=160.0, AMOUNT_TO_CUSTOMER_MEAN_7DAY=5.3, AMOUNT_TO_CUSTOMER_MEAN_30DAY=5.0,
                    AMOUNT_CUSTOMER_ZSCORE_30DAY=8.0, **{f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW": 32.0 for w in (1, 7, 30)})
    rows = pd.concat([amount, terminal, customer], ignore_index=True)
    reasons = explain(rows, model.contributions(rows))
    assert [r[0].kind for r in reasons] == ["amount", "terminal", "customer"], reasons
    probabilities = model.predict_proba(rows)
    assert (probabilities > 0.5).all(), probabilities
    assert reasons[0][0].text == "the amount, 400.00, is high"
    assert "this terminal" in reasons[1][0].text and "%" in reasons[1][0].text or "known fraud" in reasons[1][0].text
    assert "this customer" in reasons[2][0].text
    plain = model.predict_proba(case(features))
    assert plain[0] < 0.05


def test_first_reasons_per_array_equal_explain_row_row_by_row(data: tuple[pd.DataFrame, pd.DataFrame],
                                                                model: FraudModel) -> None:
    _, features = data
    rows = features.iloc[::25]
    contributions = model.contributions(rows).to_numpy()
    contributions[0] = -np.abs(contributions[0])  # a row with no positive evidence has no reason
    contributions[1, :] = 0.0
    contributions[1, [FEATURE_NAMES.index("TX_HOUR"), FEATURE_NAMES.index("TX_DURING_NIGHT")]] = 0.5  # a tie: the first
    values = rows[FEATURE_NAMES].to_numpy()
    kinds, texts = first_reasons(values, FEATURE_NAMES, contributions)
    expected = [explain_row(dict(zip(FEATURE_NAMES, values[i])), FEATURE_NAMES, contributions[i], top=1) for i in range(len(rows))]
    assert kinds.tolist() == [r[0].kind if r else "" for r in expected]
    assert texts.tolist() == [r[0].text if r else "" for r in expected]
    assert kinds[0] == "" and texts[1] == explain_row(dict(zip(FEATURE_NAMES, values[1])), FEATURE_NAMES, contributions[1])[0].text
    assert len(set(kinds.tolist())) >= 3 and len(set(texts.tolist())) > 100
    scored = score_with_reasons(model, rows, min_score=0.05)  # the batch job's table: reasons for scores worth a look
    worth = (scored["score"] >= 0.05).to_numpy()
    assert 0 < worth.sum() < len(rows) and (scored["reason"][~worth] == "").all() and (scored["reason"][worth] != "").all()


def test_reason_accuracy_on_simulated_frauds(data: tuple[pd.DataFrame, pd.DataFrame], model: FraudModel) -> None:
    history, features = data
    frauds = ((history.TX_DATETIME >= "2018-06-07") & (history.TX_FRAUD == 1)).to_numpy()
    accuracy = reason_accuracy(model.contributions(features[frauds]), history.TX_FRAUD_SCENARIO.to_numpy()[frauds])
    assert accuracy["2"] > 0.5 and accuracy["1"] > 0.8
    # a compromised card's inflated amount that stays under the simulator's 220 can only be the customer's evidence
    modest = frauds & (history.TX_AMOUNT <= 220).to_numpy()
    accuracy = reason_accuracy(model.contributions(features[modest]), history.TX_FRAUD_SCENARIO.to_numpy()[modest])
    assert accuracy["3"] > 0.8


def test_the_artefact_round_trips_with_its_version(tmp_path: Path, data: tuple[pd.DataFrame, pd.DataFrame],
                                                   model: FraudModel) -> None:
    _, features = data
    model.save(tmp_path / "m")
    loaded = FraudModel.load(tmp_path / "m")
    assert loaded.version == model.version and [m.platt for m in loaded.members] == [m.platt for m in model.members]
    assert np.array_equal(loaded.predict_proba(features[:500]), model.predict_proba(features[:500]))


def test_the_bag_averages_members_fitted_with_their_own_seeds(data: tuple[pd.DataFrame, pd.DataFrame],
                                                              model: FraudModel) -> None:
    _, features = data
    rows = features[:2000]
    assert len(model.members) == 3 and list(model.info["train_config"]["seeds"]) == [0, 1, 2]
    alone = [FraudModel([member], model.features).predict_proba(rows) for member in model.members]
    assert not np.allclose(alone[0], alone[1])  # the seeds give different boosters
    assert np.allclose(model.predict_proba(rows), np.mean(alone, axis=0), rtol=0, atol=1e-12)
    contributions = [FraudModel([member], model.features).contributions(rows).to_numpy() for member in model.members]
    assert np.allclose(model.contributions(rows).to_numpy(), np.mean(contributions, axis=0), atol=1e-6)
    assert model.info["num_trees"] == sum(model.info["member_trees"])


def test_a_single_booster_artefact_of_the_earlier_layout_still_loads(tmp_path: Path, data: tuple[pd.DataFrame, pd.DataFrame],
                                                                     model: FraudModel) -> None:
    """Registered versions saved before the bag (``booster.ubj``, one ``platt`` pair) stay loadable for rollback."""
    import hashlib
    import json

    _, features = data
    member = model.members[0]
    folder = tmp_path / "old"
    folder.mkdir()
    member.booster.save_model(folder / "booster.ubj")
    version = hashlib.sha256(bytes(member.booster.save_raw("ubj")) + json.dumps(member.platt).encode()).hexdigest()[:12]
    meta = {"version": version, "features": model.features, "platt": list(member.platt), "info": {}}
    (folder / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    loaded = FraudModel.load(folder)
    assert len(loaded.members) == 1
    assert np.array_equal(loaded.predict_proba(features[:200]), FraudModel([member], model.features).predict_proba(features[:200]))
    meta["version"] = "0" * 12
    (folder / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(AssertionError, match="does not match"):
        FraudModel.load(folder)


def test_the_model_cache_refuses_a_folder_that_holds_another_version(tmp_path: Path, model: FraudModel) -> None:
    """A registered version whose folder now holds other files is an error, never another model under its name."""
    from apps.fraud_detection.scoring import ModelCache
    from moesaic.errors import Conflict

    model.save(tmp_path / "m")
    cache = ModelCache(registry=None)
    assert cache.load(model.version, str(tmp_path / "m")).version == model.version
    with pytest.raises(Conflict, match="not installed here"):
        cache.load("2190bc3a0c3e", str(tmp_path / "m"))


def test_a_batch_copy_has_boosters_and_info_of_its_own(data: tuple[pd.DataFrame, pd.DataFrame], model: FraudModel) -> None:
    from apps.fraud_detection.scoring import LoadedModel

    _, features = data
    loaded = LoadedModel(model)
    copy = loaded.batch_copy(2)
    assert all(c.booster is not o.booster for c, o in zip(copy.members, loaded.model.members))
    assert copy.info is not loaded.model.info
    assert np.array_equal(copy.predict_proba(features[:300]), model.predict_proba(features[:300]))


def test_a_missing_feature_value_is_worded_as_missing_not_as_nan(data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """A customer's first transaction has no mean to compare with: its reasons say so rather than "nan times"."""
    _, features = data
    values = features.iloc[0].to_dict()
    for name in ("AMOUNT_TO_CUSTOMER_MEAN_30DAY", "AMOUNT_CUSTOMER_ZSCORE_30DAY", "CUSTOMER_SECONDS_SINCE_PREV_TX",
                 "TERMINAL_DAYS_SINCE_KNOWN_FRAUD"):
        values[name] = float("nan")
        contributions = np.zeros(len(FEATURE_NAMES))
        contributions[FEATURE_NAMES.index(name)] = 1.0
        text = explain_row(values, FEATURE_NAMES, contributions)[0].text
        _, batch_texts = first_reasons(np.array([[values[f] for f in FEATURE_NAMES]]), FEATURE_NAMES, contributions[None, :])
        assert "nan" not in text.lower() and batch_texts[0] == text, text
    assert explain_row(values, FEATURE_NAMES, contributions)[0].text == "no known fraud of this terminal on record"
