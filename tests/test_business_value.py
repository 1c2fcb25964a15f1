"""checks.business_value: value per decision, the value-maximising threshold, the lift."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest

from nbtrail import recording
from nbtrail.checks import CheckResult, business_value
from nbtrail.errors import UsageError
from nbtrail.fingerprints import fingerprint
from nbtrail.store import init_trail

COSTS = {"tp": 0, "fp": 1, "tn": 0, "fn": 10}  # a missed positive costs ten false alarms
SYMMETRIC = {"tp": 1, "fp": -1, "tn": 1, "fn": -1}  # value = 2 * accuracy - 1


def _calibrated(n: int, seed: int = 0, sharpness: float = 3.0, shift: float = 0.0):
    """Scores that are true probabilities: y is drawn from them."""
    rng = np.random.default_rng(seed)
    scores = 1 / (1 + np.exp(shift - sharpness * rng.normal(size=n)))
    return rng.random(n) < scores, scores


def _counts(y, s, t):
    accept = s >= t
    return {
        "tp": int(np.sum(accept & y)),
        "fp": int(np.sum(accept & ~y)),
        "tn": int(np.sum(~accept & ~y)),
        "fn": int(np.sum(~accept & y)),
    }


def _worth(counts, values) -> float:
    return sum(counts[k] * values[k] for k in counts) / sum(counts.values())


# -- what it computes ------------------------------------------------------------------------


def test_ten_rows_by_hand():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    s = np.array([0.9, 0.8, 0.6, 0.3, 0.7, 0.55, 0.4, 0.2, 0.1, 0.05])
    values = {"tp": 100, "fp": -20, "tn": 0, "fn": -50}
    result = business_value(y, s, value_matrix=values, n_boot=0)
    # at 0.5: accepted 0.9 0.8 0.6 (tp=3), 0.7 0.55 (fp=2); 0.3 missed (fn=1); tn=4
    expected = (3 * 100 + 2 * -20 + 4 * 0 + 1 * -50) / 10
    m = result.metrics
    assert m["value_per_decision"] == pytest.approx(expected) == pytest.approx(21.0)
    assert m["accuracy"] == pytest.approx(7 / 10)
    accept_all = (4 * 100 + 6 * -20) / 10  # 28: accepting everyone beats the model at 0.5
    reject_all = (4 * -50) / 10
    assert m["baseline_value"] == pytest.approx(max(accept_all, reject_all))
    assert m["baseline"] == "accept_all"
    assert m["lift"] == pytest.approx(21.0 - 28.0)
    # best: accept down to 0.3 (tp=4, fp=3: 400 - 60 = 340 / 10)
    assert (m["optimal_threshold"], m["optimal_value"]) == (0.3, pytest.approx(34.0))
    assert m["optimal_accuracy"] == pytest.approx(0.7)
    assert result.status == "fail" and "worth less than not having it" in result.summary
    assert "move the threshold to 0.3" in result.summary
    assert not any(k.endswith("_low") for k in m)  # n_boot=0: no intervals
    row = result.details.set_index("threshold").loc[0.5]
    assert (row["tp"], row["fp"], row["tn"], row["fn"], row["marker"]) == (3, 2, 4, 1, "current")


def test_matrix_layouts_and_costs_agree():
    y, s = _calibrated(400, seed=3)
    values = {"tp": 5.0, "fp": -2.0, "tn": 0.5, "fn": -7.0}
    as_dict = business_value(y, s, value_matrix=values, n_boot=50)
    as_grid = business_value(y, s, value_matrix=[[0.5, -2.0], [-7.0, 5.0]], n_boot=50)
    as_costs = business_value(y, s, cost_matrix={k: -v for k, v in values.items()}, n_boot=50)
    as_upper = business_value(
        y, s, value_matrix={k.upper(): v for k, v in values.items()}, n_boot=50
    )
    for other in (as_grid, as_costs, as_upper):
        assert other.metrics == as_dict.metrics
    assert as_dict.metrics["value_per_decision"] == pytest.approx(
        _worth(_counts(y, s, 0.5), values)
    )


def test_the_optimum_equals_a_brute_force_scan_over_every_threshold():
    rng = np.random.default_rng(7)
    y = rng.random(3000) < 0.3
    s = np.clip(np.round(0.3 * y + rng.random(3000) * 0.7, 3), 0, 1)  # ties on purpose
    values = {"tp": 13.7, "fp": -3.1, "tn": 0.4, "fn": -2.9}
    result = business_value(y, s, value_matrix=values, n_boot=0)
    candidates = [*np.unique(s), np.nextafter(s.max(), np.inf)]
    worths = np.array([_worth(_counts(y, s, t), values) for t in candidates])
    best = int(np.argmax(worths))
    assert result.metrics["optimal_value"] == pytest.approx(worths[best], rel=1e-12)
    assert result.metrics["optimal_threshold"] == candidates[best]
    table = result.details
    for t in (0.0, 0.25, 0.73, 1.0):
        row = table.loc[np.isclose(table["threshold"], t)].iloc[0]
        assert row["value_per_decision"] == pytest.approx(
            _worth(_counts(y, s, row["threshold"]), values)
        )


def test_rejecting_everyone_can_be_the_optimum():
    y = np.array([0, 0, 0, 1, 0, 0])
    s = np.array([0.2, 0.9, 0.4, 0.1, 1.0, 0.6])  # the only positive scores lowest
    result = business_value(y, s, cost_matrix={"tp": 0, "fp": 5, "tn": 0, "fn": 1}, n_boot=20)
    m = result.metrics
    assert m["optimal_value"] == pytest.approx(-1 / 6) == pytest.approx(m["baseline_value"])
    assert m["optimal_threshold"] > 1.0  # just above the largest score: accept no one
    assert m["baseline"] == "reject_all" and result.status == "fail"


def test_bootstrap_interval_matches_resampling_rows():
    y, s = _calibrated(1500, seed=11)
    result = business_value(y, s, cost_matrix=COSTS, n_boot=4000, random_state=1)
    rng = np.random.default_rng(5)
    picks = rng.integers(0, len(y), size=(2000, len(y)))
    yy, accepted = y[picks], s[picks] >= 0.5
    worth = -(np.sum(accepted & ~yy, axis=1) + 10 * np.sum(~accepted & yy, axis=1)) / len(y)
    low, high = np.percentile(worth, [2.5, 97.5])
    spread = high - low
    assert result.metrics["value_low"] == pytest.approx(low, abs=0.08 * spread)
    assert result.metrics["value_high"] == pytest.approx(high, abs=0.08 * spread)
    m = result.metrics
    assert m["value_low"] < m["value_per_decision"] < m["value_high"]
    assert m["threshold_low"] <= m["optimal_threshold"] <= m["threshold_high"]
    again = business_value(y, s, cost_matrix=COSTS, n_boot=4000, random_state=1)
    assert again.metrics == m


# -- verdicts ----------------------------------------------------------------------------------


def test_fails_when_the_model_is_worth_less_than_a_constant_decision():
    rng = np.random.default_rng(2)
    y = rng.random(2000) < 0.9
    s = rng.random(2000)  # scores know nothing: rejecting half costs missed positives
    result = business_value(y, s, value_matrix={"tp": 1, "fp": -1, "tn": 0, "fn": -1}, n_boot=100)
    assert result.status == "fail"
    assert result.metrics["lift"] < 0 and result.metrics["baseline"] == "accept_all"
    assert "below accept all: the model is worth less than not having it" in result.summary


def test_fails_below_min_value_and_records_it_as_a_threshold():
    y, s = _calibrated(2000, seed=1)
    fine = business_value(y, s, value_matrix=SYMMETRIC, n_boot=100)
    assert fine.status == "pass" and fine.thresholds == {}
    value = fine.metrics["value_per_decision"]
    strict = business_value(y, s, value_matrix=SYMMETRIC, n_boot=100, min_value=value + 0.01)
    assert strict.status == "fail" and f"below min_value {value + 0.01:.4g}" in strict.summary
    assert strict.thresholds == {"value_per_decision": value + 0.01}
    assert "worth less" not in strict.summary


def test_warns_when_expensive_misses_call_for_a_lower_threshold():
    y, s = _calibrated(5000, seed=4, sharpness=6.0, shift=3.0)
    result = business_value(y, s, cost_matrix=COSTS, n_boot=300)
    m = result.metrics
    assert result.status == "warn", result.summary
    assert m["lift"] > 0  # the model is worth having, at the wrong threshold
    assert m["optimal_threshold"] == pytest.approx(1 / 11, abs=0.05)  # calibrated: fp/(fp+fn)
    assert m["threshold_high"] < 0.5 and m["gain_low"] > 0
    assert f"move the threshold to {m['optimal_threshold']:.4g}" in result.summary
    assert m["optimal_accuracy"] < m["accuracy"]  # more value, less accuracy


def test_passes_when_the_threshold_is_already_right():
    y, s = _calibrated(5000, seed=4, sharpness=6.0, shift=3.0)
    at_best = business_value(y, s, cost_matrix=COSTS, n_boot=300, threshold=1 / 11)
    assert at_best.status == "pass", at_best.summary
    symmetric = business_value(y, s, value_matrix=SYMMETRIC, n_boot=300)
    assert symmetric.status == "pass" and "not clearly better" in symmetric.summary
    m = symmetric.metrics
    assert m["threshold_low"] <= 0.5 <= m["threshold_high"]
    assert m["value_per_decision"] == pytest.approx(2 * m["accuracy"] - 1)


def test_one_class_warns_that_the_intervals_mean_little():
    s = np.linspace(0.05, 0.45, 50)
    result = business_value(np.zeros(50, dtype=int), s, value_matrix=SYMMETRIC, n_boot=50)
    assert result.status == "warn" and "one class only" in result.summary
    assert result.metrics["value_per_decision"] == 1.0 and result.metrics["positive_rate"] == 0


def test_baseline_can_be_a_given_value_or_one_constant():
    y, s = _calibrated(1000, seed=2)
    given = business_value(y, s, value_matrix=SYMMETRIC, baseline=0.9, n_boot=50)
    assert given.status == "fail" and given.metrics["baseline"] == "given"
    assert given.metrics["lift_high"] == pytest.approx(given.metrics["value_high"] - 0.9)
    reject = business_value(y, s, value_matrix=SYMMETRIC, baseline="reject_all", n_boot=50)
    assert reject.metrics["baseline_value"] == pytest.approx(1 - 2 * y.mean())


def test_inputs_in_other_containers_and_labels():
    y, s = _calibrated(300, seed=8)
    plain = business_value(y, s, cost_matrix=COSTS, n_boot=30)
    proba = np.column_stack([1 - s, s])
    words = np.where(y, "churn", "stay")
    for other in (
        business_value(y.astype(int).tolist(), s.tolist(), cost_matrix=COSTS, n_boot=30),
        business_value(pd.Series(y), pd.Series(s), cost_matrix=COSTS, n_boot=30),
        business_value(y, proba, cost_matrix=COSTS, n_boot=30),
        business_value(words, s, cost_matrix=COSTS, positive="churn", n_boot=30),
        business_value(
            pd.Series(words, dtype="category"), s, cost_matrix=COSTS, positive="churn", n_boot=30
        ),
    ):
        assert other.metrics == plain.metrics


# -- recording and the card ----------------------------------------------------------------------


def test_records_in_the_active_run_with_its_subjects(tmp_path):
    y, s = _calibrated(500, seed=9)
    from sklearn.linear_model import LogisticRegression

    data = pd.DataFrame({"x": s * 2})
    model = LogisticRegression().fit(data, y)
    trail = init_trail(tmp_path)
    try:
        with trail.start_run("value") as run:
            recording.activate(run)
            try:
                result = business_value(y, s, cost_matrix=COSTS, n_boot=50, model=model, data=data)
            finally:
                recording.deactivate(run)
        (record,) = trail.checks([run.id])
        assert (record.kind, record.name, record.status) == (
            "business_value",
            "business_value",
            result.status,
        )
        roles = {sub.role: sub.artifact_id for sub in record.subjects}
        assert set(roles) == {"model", "data", "labels", "scores"}
        assert roles["data"] == fingerprint(data).digest
        assert roles["model"] == fingerprint(model).digest
        assert record.params["cost_matrix"] == COSTS and record.params["threshold"] == 0.5
        assert "y_true" not in record.params and "y_score" not in record.params  # no raw rows
        assert record.metrics["optimal_threshold"] == result.metrics["optimal_threshold"]
        loaded = CheckResult.from_record(trail, record)
        assert len(loaded.details) == len(result.details) and "<img" in loaded.to_html()
        assert trail.verify().ok
    finally:
        trail.close()


def test_not_recorded_without_a_run(tmp_path):
    y, s = _calibrated(100)
    trail = init_trail(tmp_path)
    try:
        business_value(y, s, cost_matrix=COSTS, n_boot=10)
        assert trail.checks() == []
    finally:
        trail.close()


def test_card_draws_value_by_threshold_with_both_thresholds_marked():
    y, s = _calibrated(2000, seed=4, sharpness=6.0, shift=3.0)
    result = business_value(y, s, cost_matrix=COSTS, n_boot=50, min_value=-0.5)
    page = result.to_html()
    (encoded,) = re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", page)
    svg = base64.b64decode(encoded).decode()
    assert svg.startswith("<svg") and "<polyline" in svg
    assert "current 0.5" in svg
    assert f"optimal {result.metrics['optimal_threshold']:.4g}" in svg
    assert "baseline" in svg
    for name in ("optimal_threshold", "value_per_decision", "accuracy", "lift", "threshold_low"):
        assert f"<td>{name}</td>" in page
    assert "<td class='muted'>-0.5</td>" in page  # min_value beside value_per_decision
    assert "<script" not in page


# -- bad input ---------------------------------------------------------------------------------

_Y = np.array([0, 1, 0, 1])
_S = np.array([0.1, 0.9, 0.4, 0.6])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of value_matrix= .* got neither"),
        ({"cost_matrix": COSTS, "value_matrix": COSTS}, "exactly one of .* got both"),
        ({"cost_matrix": {"tp": 0, "fp": 1, "tn": 0}}, "cost_matrix lacks the key.* fn"),
        ({"value_matrix": {**COSTS, "tpr": 1}}, "value_matrix has an unknown key 'tpr'"),
        ({"value_matrix": {**COSTS, "fn": float("nan")}}, r"value_matrix\['fn'\] must be finite"),
        ({"cost_matrix": {**COSTS, "fp": np.inf}}, r"cost_matrix\['fp'\] must be finite"),
        ({"cost_matrix": {**COSTS, "fp": "1"}}, r"cost_matrix\['fp'\] must be a number"),
        ({"cost_matrix": [[0, 1, 2], [3, 4, 5]]}, r"cost_matrix must be .*2x2.*shape \(2, 3\)"),
        ({"cost_matrix": [[0, np.nan], [1, 0]]}, r"cost_matrix\['fp'\] must be finite"),
        ({"cost_matrix": COSTS, "threshold": 1.5}, r"threshold must be .* in \[0, 1\]"),
        ({"cost_matrix": COSTS, "threshold": -0.1}, r"threshold must be"),
        ({"cost_matrix": COSTS, "threshold": "0.5"}, "threshold must be a number"),
        ({"cost_matrix": COSTS, "min_value": np.nan}, "min_value must be a finite number"),
        ({"cost_matrix": COSTS, "n_boot": -1}, "n_boot must be a whole number"),
        ({"cost_matrix": COSTS, "n_boot": 1.5}, "n_boot must be a whole number"),
        ({"cost_matrix": COSTS, "ci": 1.0}, "ci must be between 0 and 1"),
        ({"cost_matrix": COSTS, "baseline": "never"}, "baseline must be one of best_constant"),
        ({"cost_matrix": COSTS, "positive": 2}, "positive=2 is not one of y_true's labels"),
    ],
)
def test_bad_options_are_refused_by_name(kwargs, message):
    with pytest.raises(UsageError, match=message):
        business_value(_Y, _S, **kwargs)


@pytest.mark.parametrize(
    ("y_true", "y_score", "message"),
    [
        (_Y, _S[:3], "y_score has 3 rows but y_true has 4"),
        ([], [], "y_true is empty"),
        (np.array([0, 1, np.nan, 1]), _S, "y_true has 1 missing value"),
        (pd.Series(["a", None, "b", "a"]), _S, "y_true has 1 missing value"),
        (_Y, np.array([0.1, np.nan, 0.4, 0.6]), r"y_score has 1 missing \(NaN\)"),
        (_Y, np.array([0.1, 1.2, 0.4, 0.6]), r"y_score must be probabilities in \[0, 1\].*1.2"),
        (_Y, np.array([-2.0, 3.0, 0.4, 0.6]), "not decision_function"),
        (_Y, np.array([0.1, np.inf, 0.4, 0.6]), r"must be probabilities in \[0, 1\]"),
        (_Y, np.ones((4, 3)) / 3, r"y_score must be 1-D .* shape \(4, 3\)"),
        (_Y, ["a", "b", "c", "d"], "y_score must be numbers"),
        (np.array([0, 1, 2, 1]), _S, "y_true is not binary: it has 3 labels"),
        (np.array(["no", "yes", "no", "yes"]), _S, "which label of y_true is positive"),
        (np.zeros((4, 2)), _S, "y_true must be one-dimensional"),
    ],
)
def test_bad_labels_and_scores_are_refused_by_name(y_true, y_score, message):
    with pytest.raises(UsageError, match=message):
        business_value(y_true, y_score, cost_matrix=COSTS)


def test_a_value_matrix_is_parsed_from_text_and_bad_text_names_the_parameter():
    from nbtrail.checks import parse_value_matrix

    assert parse_value_matrix("tp=50, FP=-10,tn=0 , fn=0") == {
        "tp": 50.0,
        "fp": -10.0,
        "tn": 0.0,
        "fn": 0.0,
    }
    with pytest.raises(UsageError, match=r"value_matrix: 'fp=ten' is not OUTCOME=NUMBER"):
        parse_value_matrix("tp=50, fp=ten")
    with pytest.raises(UsageError, match=r"gains: 'tp 50' is not OUTCOME=NUMBER"):
        parse_value_matrix("tp 50", parameter="gains")
