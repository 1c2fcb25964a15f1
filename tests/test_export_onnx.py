"""ONNX export: parity per model family, scalers folded into trees, refusals, checks, CLI."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

import joblib
from conftest import make_trail
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)
from sklearn.tree import DecisionTreeClassifier

from nbtrail import recording
from nbtrail.checks import latency, onnx_parity
from nbtrail.datasets import load_adult
from nbtrail.errors import GateFailed, UsageError
from nbtrail.export import ExportResult, OnnxModel, convert, onnx
from nbtrail.store import open_trail

NBTRAIL = Path(sys.executable).parent / "nbtrail"


@pytest.fixture(scope="module")
def adult():
    train = load_adult("train").sample(3000, random_state=0)
    test = load_adult("test").sample(2000, random_state=1)
    y = train.pop("income")
    test = test.drop(columns="income")
    cat = [c for c in train.columns if not pd.api.types.is_numeric_dtype(train[c])]
    num = [c for c in train.columns if c not in cat]
    return train, y, test, cat, num


def pipeline(adult, clf, *, num=None):
    train, y, _test, cat, nums = adult
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cat),
            ("num", num if num is not None else StandardScaler(), nums),
        ]
    )
    return Pipeline([("pre", pre), ("clf", clf)]).fit(train, y)


FAMILIES = {
    "lr": lambda: LogisticRegression(max_iter=1000),
    "rf": lambda: RandomForestClassifier(n_estimators=30, random_state=0, n_jobs=1),
    "gb": lambda: GradientBoostingClassifier(n_estimators=20, random_state=0),
    "hgb": lambda: HistGradientBoostingClassifier(max_iter=30, random_state=0),
    "mlp": lambda: MLPClassifier((16,), max_iter=300, random_state=0),
}


@pytest.fixture(scope="module")
def models(adult):
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a short fit is enough here
        return {k: pipeline(adult, make()) for k, make in FAMILIES.items()}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_final_estimator_exports_with_identical_labels_and_close_probabilities(
    adult, models, family
):
    _train, _y, test, _cat, _num = adult
    model = models[family]
    onx = OnnxModel(convert(model, test.head(1)))
    result = onnx_parity(model, onx, test)
    assert result.status == "pass", result.summary
    assert result.metrics["label_agreement"] == 1.0
    assert result.metrics["max_proba_diff"] <= 1e-5
    assert list(onx.classes_) == list(model.classes_)
    assert onx.input_columns == list(test.columns)
    # strings share one string input, numbers one float input (documented in _group)
    assert onx.input_types == {"numbers": "tensor(float)", "strings": "tensor(string)"}
    sk = model.predict_proba(test.head(50))
    assert np.abs(onx.predict_proba(test.head(50)) - sk).max() <= 1e-5


def test_a_standard_scaler_in_front_of_a_forest_is_folded_so_every_label_matches(adult):
    _train, _y, test, _cat, _num = adult
    model = pipeline(adult, RandomForestClassifier(n_estimators=60, random_state=1, n_jobs=1))
    before = model[-1].estimators_[0].tree_.threshold.copy()
    proto = convert(model, test.head(1))
    result = onnx_parity(model, proto, test)
    assert result.metrics["label_mismatches"] == 0, result.details
    assert result.metrics["max_proba_diff"] <= 1e-5
    # the user's model is untouched: the folding happened on a copy
    assert np.array_equal(model[-1].estimators_[0].tree_.threshold, before)
    # the ONNX graph carries no Scaler: the numeric columns pass through unscaled
    assert "Scaler" not in {node.op_type for node in proto.graph.node}


def test_a_scaler_as_the_pipeline_first_step_is_folded_too(adult):
    train, y, test, _cat, num = adult
    model = Pipeline(
        [("scale", StandardScaler(with_mean=False)), ("gb", GradientBoostingClassifier())]
    ).fit(train[num], y)
    proto = convert(model, test[num].head(1))
    assert "Scaler" not in {node.op_type for node in proto.graph.node}
    result = onnx_parity(model, proto, test[num])
    assert result.status == "pass", result.summary
    bare = RandomForestClassifier(n_estimators=5, random_state=0).fit(train[num], y)
    assert onnx_parity(bare, convert(bare, test[num]), test[num]).status == "pass"


def test_min_max_scaler_after_an_imputer_folds_and_hgb_agrees_on_missing_numbers(adult):
    train, y, test, _cat, _num = adult
    holes = test.copy()
    holes.loc[holes.index[::7], "age"] = np.nan
    holes.loc[holes.index[::5], "hours_per_week"] = np.nan
    scaled = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", MinMaxScaler())])
    model = pipeline(adult, HistGradientBoostingClassifier(max_iter=30), num=scaled)
    result = onnx_parity(model, convert(model, test.head(1)), holes)
    assert result.status == "pass", result.summary
    raw = pipeline(adult, HistGradientBoostingClassifier(max_iter=30), num="passthrough")
    train_holes = train.copy()
    train_holes.loc[train_holes.index[::9], "capital_gain"] = np.nan
    raw.fit(train_holes, y)  # HGB learns where missing values go
    assert onnx_parity(raw, convert(raw, test.head(1)), holes).metrics["label_agreement"] == 1


def test_vote_ties_are_counted_apart_not_as_disagreements(adult):
    # 20 trees: onnxruntime sums 10 votes of 1/20 in float32 to 0.50000006, not 0.5, on one
    # thread (on two, the partial sums can meet at exactly 0.5 and break the tie the same way)
    _train, _y, test, _cat, _num = adult
    model = pipeline(adult, RandomForestClassifier(n_estimators=20, random_state=0, n_jobs=1))
    result = onnx_parity(model, OnnxModel(convert(model, test.head(1)), threads=1), test)
    ties = result.details[result.details["rule"] == "tie"]
    assert result.metrics["vote_ties"] == len(ties) > 0
    assert (ties["status"] == "warn").all()
    assert result.metrics["label_agreement"] == 1.0 and result.status == "pass"
    proba = model.predict_proba(test.loc[[int(ties["row"].iloc[0])]])
    assert proba[0, 0] == proba[0, 1] == 0.5


def test_hgb_with_native_categorical_splits_is_refused_naming_step_and_reason(adult):
    train, y, test, cat, num = adult
    pre = ColumnTransformer(
        [
            ("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), cat),
            ("num", "passthrough", num),
        ]
    )
    clf = HistGradientBoostingClassifier(max_iter=10, categorical_features=list(range(len(cat))))
    model = Pipeline([("pre", pre), ("hgb", clf)]).fit(train, y)
    with pytest.raises(UsageError, match=r"'hgb' \(HistGradientBoostingClassifier\).*1051"):
        convert(model, test)


class Stump(ClassifierMixin, BaseEstimator):
    """A classifier skl2onnx has no converter for."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.repeat(self.classes_[0], len(X))


def test_unsupported_steps_are_refused_with_no_file_and_nothing_recorded(adult, tmp_path):
    _train, _y, test, _cat, _num = adult
    stump = pipeline(adult, Stump())
    target = tmp_path / "stump.onnx"
    trail = make_trail(f"sqlite:///{tmp_path / 'trail.db'}", tmp_path / "objects")
    with trail, trail.start_run("export") as run:
        recording.activate(run)
        try:
            with pytest.raises(UsageError, match=r"step 'clf' \(Stump\) has no ONNX converter"):
                onnx(stump, test, target)
        finally:
            recording.deactivate(run)
        assert trail.artifacts() == [] and trail.checks() == []
    assert list(tmp_path.glob("*.onnx*")) == []
    logged = pipeline(adult, DecisionTreeClassifier(max_depth=3), num=FunctionTransformer(np.log1p))
    with pytest.raises(UsageError, match=r"'pre/num' \(FunctionTransformer\).*Python function"):
        convert(logged, test)


def test_bad_models_samples_and_paths_get_messages_naming_the_culprit(adult, models, tmp_path):
    _train, _y, test, _cat, _num = adult
    model = models["lr"]
    with pytest.raises(UsageError, match="LogisticRegression is not fitted"):
        convert(LogisticRegression(), test)
    with pytest.raises(UsageError, match="another order"):
        convert(model, test[list(reversed(test.columns))])
    with pytest.raises(UsageError, match="lacks columns .*workclass"):
        convert(model, test.drop(columns="workclass"))
    with pytest.raises(UsageError, match="not fitted on: extra"):
        convert(model, test.assign(extra=1))
    wrong = test.assign(age=test["age"].astype(str))
    with pytest.raises(UsageError, match="column 'age' held numbers at fit time"):
        convert(model, wrong)
    with pytest.raises(UsageError, match="is a folder"):
        onnx(model, test, tmp_path)
    with pytest.raises(UsageError, match="not fitted"):
        onnx(LogisticRegression(), test, tmp_path / "never" / "m.onnx")
    assert not (tmp_path / "never").exists()  # a refused export makes no folder either
    made = onnx(model, test.head(20), tmp_path / "new" / "dir" / "m.onnx", check=False)
    assert Path(made.path).is_file()
    Path(made.path).unlink()
    (tmp_path / "plain").write_text("a file where a folder should be")
    with pytest.raises(UsageError, match="'.*plain' is a file, not a folder"):
        onnx(model, test, tmp_path / "plain" / "m.onnx")
    with pytest.raises(UsageError, match="holdout column 'age' is string"):
        onnx(model, test, tmp_path / "m.onnx", holdout=wrong)
    assert list(tmp_path.glob("*.onnx*")) == list(tmp_path.glob(".*.tmp")) == []
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(UsageError, match="not a loadable ONNX model"):
        OnnxModel(tmp_path / "junk.onnx")
    with pytest.raises(UsageError, match="is a folder"):
        OnnxModel(tmp_path)


def test_the_runtime_takes_unseen_categories_missing_values_and_single_records(adult, models):
    _train, _y, test, _cat, _num = adult
    model = models["hgb"]
    onx = OnnxModel(convert(model, test.head(1)).SerializeToString())
    odd = test.head(20).copy()
    odd["workclass"] = "Never-seen-before"
    odd.loc[odd.index[:5], "occupation"] = np.nan
    odd.loc[odd.index[5:10], "age"] = np.nan
    assert list(onx.predict(odd)) == list(model.predict(odd))
    assert np.abs(onx.predict_proba(odd) - model.predict_proba(odd)).max() <= 1e-5
    for (_i, row), label in zip(odd.iterrows(), model.predict(odd), strict=True):
        record = {k: (None if pd.isna(v) else v) for k, v in row.items()}
        assert onx.predict_one(record) == label
    with pytest.raises(UsageError, match="no value for column 'age'"):
        onx.predict_one({k: v for k, v in record.items() if k != "age"})
    with pytest.raises(UsageError, match="column 'age' must be numeric"):
        onx.predict(odd.assign(age="old"))
    with pytest.raises(UsageError, match="columns missing .*sex"):
        onx.predict(odd.drop(columns="sex"))


def test_export_records_the_file_derived_from_the_model_with_its_checks(adult, models, tmp_path):
    _train, _y, test, _cat, _num = adult
    model = models["lr"]
    from nbtrail.capture.hooks import install_audit_hook

    install_audit_hook()  # as any capture test before this one in the process leaves it
    trail = make_trail(f"sqlite:///{tmp_path / 'trail.db'}", tmp_path / "objects")
    target = tmp_path / "lr.onnx"
    with trail, trail.start_run("export") as run:
        recording.activate(run)
        try:
            result = onnx(model, test.head(300), target, latency_rows=10)
        finally:
            recording.deactivate(run)
        assert isinstance(result, ExportResult) and result.status == "pass"
        assert result.raise_for_status() is result
        assert result.signature["workclass"] == "string" and len(result.signature) == 14
        upstream = trail.lineage(target, direction="upstream")
        assert "model" in {node["kind"] for node in upstream.nodes.values()}
        stored = trail.checks(artifact=result.product.digest)
        assert sorted(c.name for c in stored) == ["latency", "onnx_parity"]
        parity = result.check("onnx_parity")
        assert parity.metrics["rows"] == 299  # the first row typed the inputs
        assert parity.params["signature"]["age"] == "float"
        assert trail.verify().ok
    assert result.load().predict(test.head(3)).tolist() == model.predict(test.head(3)).tolist()
    assert [p.name for p in tmp_path.iterdir() if "onnx" in p.name] == ["lr.onnx"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would make it, not 0600
    assert "onnx_parity: pass" in repr(result)


def test_gates_fail_from_arguments_and_from_the_project_budget(adult, models, tmp_path):
    _train, _y, test, _cat, _num = adult
    model = models["lr"]
    strict = onnx_parity(model, convert(model, test.head(1)), test.head(200), max_proba_diff=0.0)
    assert strict.status == "fail" and set(strict.details["rule"]) == {"probability"}
    (tmp_path / "pyproject.toml").write_text("[tool.nbtrail.export]\nmax_mb = 0.000001\n")
    os.chdir(tmp_path)
    result = onnx(model, test.head(100), tmp_path / "m.onnx", latency_rows=5)
    speed = result.check("latency")
    assert speed.status == "fail" and "max_mb" in speed.summary
    assert speed.thresholds == {"max_mb": 0.000001}
    with pytest.raises(GateFailed, match="latency"):
        result.raise_for_status()
    (tmp_path / "pyproject.toml").write_text("[tool.nbtrail.export]\np99_msec = 1\n")
    with pytest.raises(UsageError, match="unknown export setting 'p99_msec'"):
        latency(model, tmp_path / "m.onnx", test.head(5))


def test_the_latency_card_draws_its_chart_as_an_image(adult, models):
    _train, _y, test, _cat, _num = adult
    model = models["hgb"]
    result = latency(model, convert(model, test.head(1)), test.head(50), rows=10, repeats=1)
    assert result.status == "pass" and result.metrics["onnx_p50_ms"] > 0
    assert result.metrics["speedup_p50"] > 1
    html = result.to_html()
    assert "<svg" not in html
    data = re.search(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", html).group(1)
    assert "onnxruntime p99" in base64.b64decode(data).decode()


def nbtrail(*args, cwd) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONDONTWRITEBYTECODE": "1"}
    command = [str(NBTRAIL), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def test_cli_exports_predicts_and_exits_1_on_a_gate_and_2_on_bad_input(adult, models, tmp_path):
    _train, _y, test, _cat, _num = adult
    joblib.dump(models["lr"], tmp_path / "model.joblib")
    assert nbtrail("init", cwd=tmp_path).returncode == 0
    test.head(200).to_csv(tmp_path / "sample.csv", index=False)
    test.head(30).to_parquet(tmp_path / "new.parquet")
    done = nbtrail("export", "onnx", "model.joblib", "--sample", "sample.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "onnx_parity: pass" in done.stdout and (tmp_path / "model.onnx").is_file()
    with open_trail(tmp_path) as trail:
        upstream = trail.lineage(tmp_path / "model.onnx", direction="upstream")
        assert "model" in {node["kind"] for node in upstream.nodes.values()}
        runs = len(trail.runs())
    out = nbtrail("predict", "model.onnx", "new.parquet", "-o", "p.csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    predicted = pd.read_csv(tmp_path / "p.csv")
    assert predicted["prediction"].tolist() == models["lr"].predict(test.head(30)).tolist()
    assert list(predicted.columns) == ["prediction", "proba_<=50K", "proba_>50K"]

    for args, culprit in [
        (("export", "onnx", ".", "--sample", "sample.csv"), "is a folder"),
        (("export", "onnx", "sample.csv", "--sample", "sample.csv"), "cannot read model file"),
        (("export", "onnx", "model.joblib", "--sample", "nope.csv", "-o", "x.onnx"), "nope.csv"),
        (("predict", "sample.csv", "sample.csv"), "not a loadable ONNX model"),
        (("predict", "model.onnx", "p.csv"), "columns missing"),
    ]:
        bad = nbtrail(*args, cwd=tmp_path)
        assert bad.returncode == 2 and culprit in bad.stderr, (args, bad.stderr)
        assert "Traceback" not in bad.stderr and len(bad.stderr.splitlines()) == 1
    assert not (tmp_path / "x.onnx").exists()
    with open_trail(tmp_path) as trail:
        assert len(trail.runs()) == runs  # refused before a run was started

    (tmp_path / "pyproject.toml").write_text("[tool.nbtrail.export]\nmax_mb = 0.000001\n")
    gated = nbtrail(
        "export", "onnx", "model.joblib", "--sample", "sample.csv", "--json", cwd=tmp_path
    )
    assert gated.returncode == 1 and "gate latency failed" in gated.stderr
    assert '"status": "fail"' in gated.stdout
