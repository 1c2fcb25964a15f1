"""Compression, honestly: levers measured for fidelity, size and latency; one candidate chosen."""

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

import warnings

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from nbtrail.datasets import load_adult
from nbtrail.errors import GateFailed, UsageError
from nbtrail.export import COLUMNS, Compression, compress

CAT = ["workclass", "education", "marital_status", "occupation", "relationship", "sex"]
NUM = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]


@pytest.fixture(scope="module")
def adult():
    train = load_adult("train").sample(1500, random_state=0)
    test = load_adult("test").sample(400, random_state=1)
    cols = CAT + NUM
    return train[cols], train["income"], test[cols], test["income"]


def pipeline(clf, *, numeric="passthrough", sparse=False):
    prep = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=sparse), CAT),
            ("num", numeric, NUM),
        ]
    )
    return Pipeline([("prep", prep), ("clf", clf)])


@pytest.fixture(scope="module")
def forest(adult):
    X, y, _, _ = adult
    return pipeline(RandomForestClassifier(30, n_jobs=1, random_state=0)).fit(X, y)


def run(model, adult, **kw):
    X, y, Xh, yh = adult
    return compress(model, X, y, X_holdout=Xh, y_holdout=yh, latency_rows=20, **kw)


def test_forest_table_measures_every_lever_against_the_original(forest, adult):
    result = run(forest, adult)
    table = result.table
    assert list(table.columns) == COLUMNS
    original = table.iloc[0]
    assert original["lever"] == "original" and original["fidelity"] == 1.0
    assert original["size_of"] == "onnx" and original["engine"] == "onnxruntime"
    quant = table[table["lever"] == "quantize"].iloc[0]
    assert pd.isna(quant["fidelity"]) and quant["reason"].startswith("not applicable")
    assert "TreeEnsembleClassifier" in quant["reason"] and "540 bytes" in quant["reason"]
    variants = set(table["variant"])
    assert {"first 15 of 30 trees", "first 6 of 30 trees"} <= variants
    assert {"refit min_samples_leaf=20", "LogisticRegression (scaled)"} <= variants
    measured = table[table["fidelity"].notna()]
    assert len(measured) >= 7 and (measured["p50_ms"] > 0).all()
    # truncating trees keeps a prefix of the forest: strictly smaller files
    halves = measured.set_index("variant")["size_bytes"]
    assert halves["first 6 of 30 trees"] < halves["first 15 of 30 trees"] < original["size_bytes"]
    assert table["chosen"].sum() == 1
    assert result.check.kind == "compression"
    pd.testing.assert_frame_equal(result.check.details, table)


def test_a_low_floor_picks_the_smallest_eligible_candidate(forest, adult):
    result = run(forest, adult, fidelity_floor=0.5)
    table = result.table
    eligible = table[table["fidelity"] >= 0.5]
    chosen = table[table["chosen"]].iloc[0]
    assert chosen["size_bytes"] == eligible["size_bytes"].min()
    assert chosen["lever"] != "original" and chosen["reason"].startswith("chosen: smallest")
    assert result.status == "pass" and result.chosen.startswith(chosen["lever"])
    assert result.model is result.candidates[result.chosen]
    assert result.check.metrics["size_reduction"] > 1
    assert "Chose" in result.check.summary and "smaller" in result.check.summary
    assert f"{chosen['variant']}" in repr(result)
    # every candidate is an artifact derived from the teacher
    assert len(result.products) == len(table[table["fidelity"].notna()]) - 1
    assert all(set(p.inputs) == {"teacher"} for p in result.products)


def test_prefer_latency_picks_the_lowest_p50(forest, adult):
    result = run(forest, adult, fidelity_floor=0.5, prefer="latency")
    table = result.table
    eligible = table[table["fidelity"] >= 0.5]
    assert table[table["chosen"]].iloc[0]["p50_ms"] == eligible["p50_ms"].min()


def test_a_strict_floor_keeps_the_original_and_warns(forest, adult):
    result = run(forest, adult, fidelity_floor=1.0, levers=("prune",))
    chosen = result.table[result.table["chosen"]].iloc[0]
    assert chosen["lever"] == "original" and chosen["reason"].startswith("kept:")
    assert result.status == "warn" and result.model is forest
    below = result.table[(result.table["fidelity"] < 1.0)]
    assert below["reason"].str.contains("below the floor 100.00%").all()
    result.raise_for_status()  # a warning does not stop a pipeline


def test_a_budget_nothing_meets_fails_the_gate(forest, adult):
    result = run(forest, adult, fidelity_floor=0.5, budget={"max_mb": 1e-6}, levers=("prune",))
    assert result.status == "fail" and not result.table["chosen"].any()
    measured = result.table[result.table["fidelity"].notna()]
    assert measured["reason"].str.contains("MB over 1e-06 MB").all()
    assert result.check.thresholds == {"fidelity_floor": 0.5, "max_mb": 1e-6}
    with pytest.raises(GateFailed, match="compression"):
        result.raise_for_status()


def test_the_project_budget_applies_when_none_is_given(forest, adult, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[tool.nbtrail.export]\nmax_mb = 0.000001\n")
    monkeypatch.chdir(tmp_path)
    result = run(forest, adult, fidelity_floor=0.5, levers=("prune",))
    assert result.status == "fail" and result.check.thresholds["max_mb"] == 1e-6
    measured = result.table[result.table["fidelity"].notna()]
    assert measured["reason"].str.contains("MB over 1e-06 MB").all()
    kept = run(forest, adult, fidelity_floor=0.5, levers=("prune",), budget={"max_mb": 1e3})
    assert kept.status == "pass"  # an explicit budget replaces the project's


def test_a_candidate_whose_export_changes_decisions_is_never_chosen(
    forest, adult, tmp_path, monkeypatch
):
    # probabilities must match exactly: float32 tree sums and logistic outputs cannot
    (tmp_path / "pyproject.toml").write_text("[tool.nbtrail.export]\nmax_proba_diff = 0.0\n")
    monkeypatch.chdir(tmp_path)
    result = run(forest, adult, fidelity_floor=0.5, levers=("prune", "distill"))
    table = result.table[result.table["fidelity"].notna()]
    unfaithful = table["reason"].str.contains("its ONNX export changes decisions")
    assert unfaithful.any()
    assert not table.loc[unfaithful, "chosen"].any()
    assert table["onnx_parity"].between(0, 1).all()


def test_mlp_is_quantized_and_measured_like_any_export(adult):
    X, y, _, _ = adult
    with warnings.catch_warnings():  # a small MLP on 1,500 rows stops before converging
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = pipeline(MLPClassifier((32,), max_iter=50, random_state=0), numeric=StandardScaler())
        mlp.fit(X, y)
    result = run(mlp, adult, levers=("quantize", "prune"))
    quant = result.table[result.table["lever"] == "quantize"].iloc[0]
    assert quant["engine"] == "onnxruntime" and quant["size_of"] == "onnx"
    assert quant["size_bytes"] < result.table.iloc[0]["size_bytes"]
    assert 0.9 <= quant["fidelity"] <= 1.0
    assert isinstance(result.candidates["quantize: dynamic int8"], bytes)
    prune = result.table[result.table["lever"] == "prune"].iloc[0]
    assert prune["reason"].startswith("not applicable") and "MLP" in prune["reason"]


def test_linear_pruning_zeroes_coefficients_and_says_bytes_do_not_shrink(adult):
    X, y, _, _ = adult
    lr = pipeline(LogisticRegression(max_iter=2000), numeric=StandardScaler()).fit(X, y)
    result = run(lr, adult, levers=("prune",))
    row = result.table[result.table["variant"] == "keep largest 20% of |coef|"].iloc[0]
    assert "densely" in row["reason"]
    pruned = result.candidates["prune: keep largest 20% of |coef|"]
    coef = pruned[-1].coef_
    assert (coef == 0).mean() >= 0.79 and (lr[-1].coef_ != 0).all()
    assert row["size_bytes"] == result.table.iloc[0]["size_bytes"]
    # equal bytes: with any floor the more faithful original wins the tie
    loose = run(lr, adult, levers=("prune",), fidelity_floor=0.5)
    assert loose.table[loose.table["chosen"]].iloc[0]["lever"] == "original"


def test_a_failing_lever_is_a_finding_not_a_crash(adult):
    X, y, _, _ = adult
    # sparse one-hot: the HistGradientBoosting student cannot be fitted on it
    lr = pipeline(LogisticRegression(max_iter=2000), numeric=StandardScaler(), sparse=True)
    result = run(lr.fit(X, y), adult, levers=("distill",))
    hgb = result.table[result.table["variant"].str.startswith("HistGradientBoosting")].iloc[0]
    assert hgb["reason"].startswith("failed: TypeError") and pd.isna(hgb["fidelity"])
    assert result.table["fidelity"].notna().sum() == 3  # original, forest and LR students


def test_a_model_without_onnx_is_measured_with_joblib_and_sklearn(adult):
    X, y, _, _ = adult
    log = FunctionTransformer(np.log1p)  # skl2onnx refuses non-identity FunctionTransformers
    model = pipeline(RandomForestClassifier(10, n_jobs=1, random_state=0), numeric=log).fit(X, y)
    result = run(model, adult, levers=("quantize", "prune"))
    original = result.table.iloc[0]
    assert original["size_of"] == "joblib" and original["engine"] == "sklearn"
    assert "no ONNX" in original["reason"]
    quant = result.table[result.table["lever"] == "quantize"].iloc[0]
    assert quant["reason"] == "not applicable: the model does not convert to ONNX"


def test_without_labels_accuracy_is_left_empty_and_a_quarter_is_held_out(forest, adult):
    X, _, _, _ = adult
    result = compress(forest, X, levers=("prune",), latency_rows=10, fidelity_floor=0.5)
    assert result.table["accuracy_delta"].isna().all()
    assert "chosen_accuracy_delta" not in result.check.metrics
    assert isinstance(result, Compression) and result.status == "pass"


def test_candidates_and_the_check_are_recorded_with_lineage(trail, forest, adult):
    with trail.start_run("compress") as r:
        result = run(forest, adult, fidelity_floor=0.5, levers=("prune",), run=r)
    chosen = next(p for p in result.products if result.check in p.checks)
    assert chosen.status == "pass"
    # the chosen candidate carries its own export's parity check and the compression verdict
    assert sorted(c.name for c in chosen.checks) == ["compression", "onnx_parity"]
    verdicts = trail.checks(artifact=chosen.digest)
    assert sorted(c.kind for c in verdicts) == ["compression", "onnx_parity"]
    parity = [p for p in result.products if [c.name for c in p.checks] == ["onnx_parity"]]
    assert len(parity) == len(result.products) - 1  # every other candidate: its parity only
    teacher = result.products[0].inputs["teacher"]
    assert all(p.inputs == {"teacher": teacher} for p in result.products)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fidelity_floor": 0}, "fidelity_floor must be in"),
        ({"fidelity_floor": 1.5}, "fidelity_floor must be in"),
        ({"prefer": "speed"}, "prefer must be 'size' or 'latency'"),
        ({"levers": ("prune", "magic")}, r"levers: unknown \['magic'\]"),
        ({"budget": {"p90_ms": 1}}, r"budget: unknown key\(s\) \['p90_ms'\]"),
        ({"budget": {"max_mb": -1}}, r"budget\['max_mb'\] must be a positive number"),
        ({"budget": 5}, "budget must be a dict"),
    ],
)
def test_bad_options_are_refused_by_name(forest, adult, kwargs, message):
    X, y, _, _ = adult
    with pytest.raises(UsageError, match=message):
        compress(forest, X, y, **kwargs)


def test_bad_models_and_data_are_refused_by_name(forest, adult):
    X, y, Xh, _ = adult
    with pytest.raises(UsageError, match="not fitted"):
        compress(pipeline(LogisticRegression()), X, y)
    regressor = RandomForestRegressor(3).fit(X[NUM], np.arange(len(X)))
    with pytest.raises(UsageError, match="needs a classifier; got RandomForestRegressor"):
        compress(regressor, X[NUM])
    with pytest.raises(UsageError, match=r"y must be one label per row \(1500\)"):
        compress(forest, X, y[:10])
    with pytest.raises(UsageError, match="X_holdout must have X's columns"):
        compress(forest, X, y, X_holdout=Xh[list(reversed(Xh.columns))])
    with pytest.raises(UsageError, match="X must be a non-empty pandas DataFrame"):
        compress(forest, X.to_numpy(), y)
    with pytest.raises(UsageError, match="give X_holdout, or at least 20 rows"):
        compress(forest, X.head(10))


def test_the_card_embeds_the_size_chart_as_an_image_and_lists_every_candidate(forest, adult):
    import base64
    import re

    result = run(forest, adult, fidelity_floor=0.5, levers=("prune",))
    html = result._repr_html_()
    assert "<svg" not in html  # the sanitizer strips inline SVG: it must be an image
    (data,) = re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", html)
    svg = base64.b64decode(data).decode()
    chosen = result.table[result.table["chosen"]].iloc[0]
    assert svg.count("<rect") == int(result.table["fidelity"].notna().sum())
    assert "#2e7d32" in svg and chosen["variant"] in svg
    assert all(v in html for v in result.table["variant"])
