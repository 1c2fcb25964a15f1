"""Performance decay with labels, and the label-free estimate (CBPE), on Adult batches."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from nbtrail import checks
from nbtrail.datasets import load_adult
from nbtrail.errors import UsageError
from nbtrail.monitor import estimate_performance, performance
from nbtrail.monitor._estimate import expected_accuracy, expected_roc_auc
from nbtrail.monitor._performance import delong, wilson

BROKEN = ["marital_status", "relationship", "education_num", "capital_gain"]


@pytest.fixture(scope="module")
def adult():
    """An LR pipeline fitted on 8,000 Adult train rows; the whole test set scored."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    train = load_adult("train").sample(8000, random_state=0)
    test = load_adult("test").sample(frac=1.0, random_state=1).reset_index(drop=True)
    cat = [c for c in train.columns if train[c].dtype != "int64" and c != "income"]
    num = [c for c in train.columns if train[c].dtype == "int64"]
    pipe = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), cat), (StandardScaler(), num)
        ),
        LogisticRegression(max_iter=1000),
    )
    pipe.fit(train.drop(columns="income"), train["income"])
    test["score"] = pipe.predict_proba(test.drop(columns="income"))[:, 1]
    return pipe, test


@pytest.fixture(scope="module")
def weeks(adult):
    """Six undrifted weekly batches of 2,000 rows, then a week whose inputs broke upstream.

    In week 7 four strong features are shuffled across rows (a join gone wrong): the model's
    real ROC AUC falls from about 0.90 to about 0.65. The rows left over are the reference.
    """
    pipe, test = adult
    rng = np.random.default_rng(7)
    batches = []
    for week in range(7):
        batch = test.iloc[week * 2000 : (week + 1) * 2000].copy()
        if week == 6:
            for column in BROKEN:
                batch[column] = rng.permutation(batch[column].to_numpy())
            batch["score"] = pipe.predict_proba(batch.drop(columns=["income", "score"]))[:, 1]
        start = pd.Timestamp("2024-01-01") + pd.Timedelta(days=7 * week)
        offsets = pd.to_timedelta(rng.uniform(0, 7 * 86400 - 1, len(batch)), unit="s")
        batch["when"] = (start + offsets).strftime("%Y-%m-%d %H:%M:%S")
        batch["batch"] = f"week{week + 1}"
        batches.append(batch)
    reference = test.iloc[14000:].copy()
    return pd.concat(batches, ignore_index=True), reference


# -- with labels ---------------------------------------------------------------------------


def test_decay_is_found_in_the_broken_week_and_nowhere_else(weeks):
    frame, reference = weeks
    result = performance(
        frame, target="income", score="score", timestamp="when", window="7D", reference=reference
    )
    assert result.status == "fail"
    alerts = result.details[result.details["alert"]]
    assert set(alerts["window"]) == {"2024-02-12"}
    assert "roc_auc" in set(alerts["metric"])
    assert "2024-02-12" in result.summary and "roc_auc" in result.summary
    assert "below the reference" in result.summary
    healthy = result.details[result.details["window"] != "2024-02-12"]
    assert len(healthy) == 12 and not healthy["alert"].any()
    assert (healthy["drop"].abs() < 0.05).all()
    broken = result.details.query("window == '2024-02-12' and metric == 'roc_auc'").iloc[0]
    assert broken["drop"] > 0.15 and broken["high"] < broken["reference"]
    assert result.metrics["windows"] == 7 and result.metrics["windows_alerting"] == 1
    columns = "window start rows labelled metric value low high reference drop alert note"
    assert list(result.details.columns) == columns.split()


def test_metrics_equal_scikit_learn_and_a_numeric_reference_works(weeks):
    frame, _ = weeks
    result = performance(
        frame, target="income", score="score", batch="batch", reference={"roc_auc": 0.90}
    )
    row = result.details[result.details["window"] == "week3"]
    part = frame[frame["batch"] == "week3"]
    truth = part["income"] == ">50K"
    auc = row[row["metric"] == "roc_auc"]["value"].iloc[0]
    acc = row[row["metric"] == "accuracy"]["value"].iloc[0]
    assert auc == pytest.approx(roc_auc_score(truth, part["score"]), abs=1e-12)
    assert acc == pytest.approx(((part["score"] >= 0.5) == truth).mean(), abs=1e-12)
    assert result.status == "fail" and "week7" in result.summary


def test_intervals_cover_the_population_value_most_of_the_time(adult):
    _, test = adult
    truth = (test["income"] == ">50K").to_numpy()
    population = {
        "roc_auc": roc_auc_score(truth, test["score"]),
        "accuracy": float(((test["score"] >= 0.5) == truth).mean()),
    }
    frame = test.iloc[:16000]
    result = performance(frame, target="income", score="score", window=500)
    assert result.metrics["windows"] == 32
    for metric, value in population.items():
        part = result.details[result.details["metric"] == metric]
        covered = ((part["low"] <= value) & (value <= part["high"])).mean()
        assert covered >= 0.85, (metric, covered)
        assert (part["high"] - part["low"]).max() < 0.12


def test_a_small_week_is_reported_without_an_interval_not_raised(weeks):
    frame, reference = weeks
    small = frame.iloc[:2030].copy()
    small.loc[2000:, "when"] = "2024-01-09 10:00:00"  # 30 rows in week 2
    result = performance(
        small, target="income", score="score", timestamp="when", window="7D", reference=reference
    )
    week2 = result.details[result.details["window"] == "2024-01-08"]
    assert len(week2) == 2 and (week2["rows"] == 30).all()
    assert week2["note"].str.startswith("too few rows").all()
    assert week2["low"].isna().all() and week2["high"].isna().all()
    assert not week2["alert"].any() and week2["value"].notna().all()
    assert result.status in ("pass", "warn") and "too few rows" in result.summary


def test_outcomes_not_yet_arrived_are_left_out_and_said_so(weeks):
    frame, reference = weeks
    late = frame.iloc[:4000].copy()
    late.loc[2000:, "income"] = None
    result = performance(late, target="income", score="score", batch="batch", reference=reference)
    week2 = result.details[result.details["window"] == "week2"]
    assert (week2["note"] == "no outcomes yet").all() and week2["value"].isna().all()
    assert (week2["labelled"] == 0).all() and (week2["rows"] == 2000).all()
    assert result.metrics["rows_labelled"] == 2000
    assert result.status == "pass"


def test_prediction_column_alone_measures_accuracy(weeks):
    frame, reference = weeks
    frame = frame.assign(pred=np.where(frame["score"] >= 0.5, ">50K", "<=50K"))
    reference = reference.assign(pred=np.where(reference["score"] >= 0.5, ">50K", "<=50K"))
    result = performance(
        frame, target="income", prediction="pred", batch="batch", reference=reference
    )
    assert set(result.details["metric"]) == {"accuracy"}
    with pytest.raises(UsageError, match="'roc_auc' needs score="):
        performance(frame, target="income", prediction="pred", metrics=["roc_auc"])


def test_bad_input_is_named(weeks):
    frame, _ = weeks
    bad = frame.iloc[:300].copy()
    bad.loc[5, "when"] = "last tuesday"
    with pytest.raises(UsageError, match=r"timestamp column 'when'.*'last tuesday'"):
        performance(bad, target="income", score="score", timestamp="when", window="7D")
    with pytest.raises(UsageError, match="timestamp column 't' holds numbers"):
        performance(frame.assign(t=1.0), target="income", score="score", timestamp="t", window="7D")
    with pytest.raises(UsageError, match="target column 'label'"):
        performance(frame, target="label", score="score")
    with pytest.raises(UsageError, match="score column 'proba'"):
        performance(frame, target="income", score="proba")
    with pytest.raises(UsageError, match="prediction column 'pred'"):
        performance(frame, target="income", prediction="pred")
    with pytest.raises(UsageError, match="empty"):
        performance(frame.iloc[:0], target="income", score="score")
    with pytest.raises(UsageError, match="window='weekly' is not a pandas frequency"):
        performance(frame, target="income", score="score", timestamp="when", window="weekly")
    with pytest.raises(UsageError, match="one number for 2 metrics"):
        performance(frame, target="income", score="score", reference=0.9)
    with pytest.raises(UsageError, match="max_drop"):
        performance(frame, target="income", score="score", max_drop=2)
    with pytest.raises(UsageError, match=r"reference frame lacks column\(s\) \['score'\]"):
        performance(frame, target="income", score="score", reference=frame.drop(columns="score"))


def test_interval_formulas_match_known_values():
    low, high = wilson(8, 10, 1.959963984540054)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    rng = np.random.default_rng(3)
    scores = rng.random(400)
    truth = rng.random(400) < scores
    auc, se = delong(np.round(scores, 1), truth)  # ties on purpose
    assert auc == pytest.approx(roc_auc_score(truth, np.round(scores, 1)), abs=1e-12)
    # Hanley-McNeil's approximation is close to DeLong's variance for a moderate AUC
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    m, n = truth.sum(), (~truth).sum()
    hanley = math.sqrt(
        (auc * (1 - auc) + (m - 1) * (q1 - auc**2) + (n - 1) * (q2 - auc**2)) / (m * n)
    )
    assert se == pytest.approx(hanley, rel=0.25)


# -- without labels ------------------------------------------------------------------------


def test_expected_metrics_are_the_mean_of_realised_ones_for_calibrated_scores():
    rng = np.random.default_rng(0)
    p = rng.beta(0.6, 1.4, 300)
    draws = rng.random((6000, 300)) < p
    aucs = [roc_auc_score(d, p) for d in draws[:1500]]
    accs = ((p >= 0.5) == draws).mean(axis=1)
    assert expected_roc_auc(p) == pytest.approx(np.mean(aucs), abs=0.003)
    assert expected_accuracy(p) == pytest.approx(accs.mean(), abs=0.002)


def test_estimate_is_close_to_realised_on_undrifted_weeks(weeks):
    frame, reference = weeks
    result = estimate_performance(
        frame,
        score="score",
        target="income",
        batch="batch",
        reference_scores=reference["score"],
        reference_labels=reference["income"],
    )
    details = result.details
    for column in ("estimate", "low", "high", "realised", "error", "labelled"):
        assert column in details.columns
    healthy = details[(details["window"] != "week7")]
    auc = healthy[healthy["metric"] == "roc_auc"]
    assert (auc["error"].abs() <= 0.02).all(), auc[["window", "estimate", "realised"]]
    acc = healthy[healthy["metric"] == "accuracy"]
    assert (acc["error"].abs() <= 0.02).all()
    inside = (healthy["low"] <= healthy["realised"]) & (healthy["realised"] <= healthy["high"])
    assert inside.mean() >= 0.75
    assert (healthy["error"] == healthy["estimate"] - healthy["realised"]).all()
    # the broken week: the scores cannot see it (the method's known blind spot), labels do
    broken = details.query("window == 'week7' and metric == 'roc_auc'").iloc[0]
    assert broken["realised"] < 0.75 and broken["error"] > 0.1
    assert result.metrics["reference_calibration_error"] < 0.05
    assert result.status == "pass"


def test_estimate_without_outcomes_and_the_min_roc_auc_alert(weeks):
    frame, _ = weeks
    unlabelled = frame.drop(columns="income")
    result = estimate_performance(
        unlabelled, score="score", timestamp="when", window="7D", min_roc_auc=0.905
    )
    auc = result.details[result.details["metric"] == "roc_auc"]
    assert auc["realised"].isna().all() and (auc["labelled"] == 0).all()
    below = auc[auc["estimate"] < 0.905]
    assert len(below) and (auc["alert"] == (auc["estimate"] < 0.905)).all()
    assert result.status == "fail" and "below the 0.905 limit" in result.summary
    relaxed = estimate_performance(
        unlabelled, score="score", timestamp="when", window="7D", min_roc_auc=0.80
    )
    assert relaxed.status == "pass"


def test_partial_outcomes_show_realised_where_they_arrived(weeks):
    frame, _ = weeks
    partial = frame.iloc[:6000].copy()
    partial.loc[4000:, "income"] = None
    result = estimate_performance(partial, score="score", target="income", batch="batch")
    auc = result.details[result.details["metric"] == "roc_auc"].set_index("window")
    assert auc.loc["week3", "labelled"] == 0 and math.isnan(auc.loc["week3", "realised"])
    assert auc.loc["week1", "labelled"] == 2000 and not math.isnan(auc.loc["week1", "realised"])
    assert not math.isnan(auc.loc["week3", "estimate"])


def test_miscalibrated_scores_warn_and_recalibrating_fixes_the_estimate(weeks):
    frame, reference = weeks
    squash = frame.iloc[:6000].assign(score=lambda f: 0.5 + (f["score"] - 0.5) * 0.4)
    ref = reference.assign(score=0.5 + (reference["score"] - 0.5) * 0.4)
    kwargs = dict(
        score="score",
        target="income",
        batch="batch",
        reference_scores=ref["score"],
        reference_labels=ref["income"],
        min_roc_auc=None,
    )
    raw = estimate_performance(squash, **kwargs)
    assert raw.status == "warn" and "calibrat" in raw.summary
    assert raw.metrics["reference_calibration_error"] > 0.05
    fixed = estimate_performance(squash, calibrate=True, **kwargs)
    assert fixed.metrics["roc_auc_mean_abs_error"] < raw.metrics["roc_auc_mean_abs_error"]
    assert fixed.metrics["accuracy_mean_abs_error"] < 0.02


def test_estimate_small_window_and_bad_input(weeks, adult):
    frame, _ = weeks
    result = estimate_performance(frame["score"].to_numpy()[:2050], window=1000)
    last = result.details[result.details["window"] == "rows 2,000-2,049"]
    assert last["note"].str.startswith("too few rows").all() and last["low"].isna().all()
    assert not last["alert"].any()
    arrays = estimate_performance(
        frame["score"].to_numpy(), target=frame["income"].to_numpy(), window=2000
    )
    assert arrays.details["realised"].notna().all() and arrays.metrics["windows"] == 7
    with pytest.raises(UsageError, match="target has shape"):
        estimate_performance(frame["score"].to_numpy(), target=frame["income"].to_numpy()[:5])
    with pytest.raises(UsageError, match="pass scores as a DataFrame"):
        estimate_performance(frame["score"].to_numpy(), batch="batch")
    bad = frame.iloc[:300].copy()
    bad.loc[7, "when"] = "2024-13-45"
    with pytest.raises(UsageError, match="timestamp column 'when'"):
        estimate_performance(bad, score="score", timestamp="when", window="7D")
    with pytest.raises(UsageError, match="score column 'proba'"):
        estimate_performance(frame, score="proba")
    with pytest.raises(UsageError, match="outside"):
        estimate_performance(frame.assign(score=frame["score"] * 3), score="score")
    with pytest.raises(UsageError, match="empty"):
        estimate_performance(frame.iloc[:0], score="score")
    with pytest.raises(UsageError, match="reference_scores and reference_labels together"):
        estimate_performance(frame, score="score", reference_scores=frame["score"])
    with pytest.raises(UsageError, match="calibrate=True needs"):
        estimate_performance(frame, score="score", calibrate=True)
    with pytest.raises(UsageError, match="target column 'y'"):
        estimate_performance(frame, score="score", target="y")


def test_both_checks_are_registered_and_draw_a_timeline(weeks):
    frame, reference = weeks
    assert checks.get_check("performance_decay").roles == {
        "frame": "current",
        "reference": "reference",
    }
    assert checks.get_check("estimated_performance").version == "1"
    decay = performance(frame, target="income", score="score", batch="batch", reference=reference)
    estimate = estimate_performance(frame, score="score", target="income", batch="batch")
    for result in (decay, estimate):
        page = result.to_html()
        assert page.count("data:image/svg+xml;base64,") == 2
        assert "<script" not in page
    assert [s.role for s in decay.subjects] == ["current", "reference"]


def test_a_drop_the_interval_still_reaches_warns_without_alerting(weeks):
    frame, _ = weeks
    few = frame.iloc[:120]
    options = dict(target="income", score="score", metrics=["accuracy"], confidence=0.99)
    plain = performance(few, **options)
    value, high = plain.details.loc[0, ["value", "high"]]
    assert high - value > 0.06  # 120 rows: a wide interval
    result = performance(few, reference={"accuracy": float(value + 0.055)}, **options)
    assert result.status == "warn" and not result.details["alert"].any()
    assert result.details.loc[0, "note"] == "drop within the interval's reach"
    assert "no alert" in result.summary
    sure = performance(few, reference={"accuracy": float(high + 0.01)}, **options)
    assert sure.status == "fail" and sure.details.loc[0, "alert"]


def test_precision_recall_and_a_one_class_window(weeks):
    from sklearn.metrics import precision_score, recall_score

    frame, _ = weeks
    part = frame.iloc[:2000]
    result = performance(part, target="income", score="score", metrics=["precision", "recall"])
    truth, predicted = part["income"] == ">50K", part["score"] >= 0.5
    values = result.details.set_index("metric")["value"]
    assert values["precision"] == pytest.approx(precision_score(truth, predicted))
    assert values["recall"] == pytest.approx(recall_score(truth, predicted))
    negatives = part[part["income"] == "<=50K"].iloc[:500]
    only = performance(negatives, target="income", score="score", positive=">50K")
    auc = only.details.set_index("metric").loc["roc_auc"]
    assert math.isnan(auc["value"]) and auc["note"] == "one class only: ROC AUC undefined"


def test_results_record_in_a_trail(weeks, tmp_path, monkeypatch):
    from nbtrail.store import init_trail

    frame, reference = weeks
    monkeypatch.chdir(tmp_path)
    trail = init_trail(tmp_path)
    try:
        with trail.start_run("monitor") as run:
            decay = performance(
                frame,
                target="income",
                score="score",
                timestamp="when",
                window="7D",
                reference=reference,
            ).record(run)
            estimate = estimate_performance(frame, score="score", target="income", batch="batch")
            estimate.record(run)
        recorded = {c.kind: c for c in trail.checks([run.id])}
        assert set(recorded) == {"performance_decay", "estimated_performance"}
        assert recorded["estimated_performance"].status == estimate.status
        assert decay.record_id and trail.verify().ok
        assert [s.role for s in recorded["performance_decay"].subjects] == ["current", "reference"]
    finally:
        trail.close()
