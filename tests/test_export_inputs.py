"""Exported models read one string and one number tensor: the grouping keeps every decision."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from nbtrail.checks import OnnxRunner, onnx_parity
from nbtrail.datasets import load_adult
from nbtrail.errors import UsageError
from nbtrail.export import OnnxModel, convert


@pytest.fixture(scope="module")
def adult():
    train = load_adult("train").sample(3000, random_state=2)
    test = load_adult("test").sample(1500, random_state=3).drop(columns="income")
    y = train.pop("income")
    return train, y, test


def onehot():
    return OneHotEncoder(handle_unknown="ignore", sparse_output=False)


def fit(adult, transformers, clf=None):
    train, y, _ = adult
    pre = ColumnTransformer(transformers)
    return Pipeline([("pre", pre), ("clf", clf or LogisticRegression(max_iter=2000))]).fit(train, y)


def ops(proto) -> list[str]:
    return [n.op_type for n in proto.graph.node]


def test_the_exported_graph_has_two_inputs_and_one_fused_encoder(adult):
    train, _, test = adult
    cat = [c for c in train.columns if not pd.api.types.is_numeric_dtype(train[c])]
    num = [c for c in train.columns if c not in cat]
    model = fit(adult, [("cat", onehot(), cat), ("num", StandardScaler(), num)])
    proto = convert(model, test.head(5))
    assert [i.name for i in proto.graph.input] == ["numbers", "strings"]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["nbtrail.inputs"]) == {"numbers": num, "strings": cat}
    assert ops(proto).count("OneHotEncoder") == 1 and "Concat" in ops(proto)
    doc = {i.name: i.doc_string for i in proto.graph.input}
    assert doc["strings"] == "columns: " + ", ".join(cat)
    runner = OnnxModel(proto)
    assert runner.input_columns == list(test.columns)
    assert onnx_parity(model, runner, test).metrics["label_agreement"] == 1.0


def test_a_category_unseen_for_its_column_but_known_for_another_encodes_as_unknown(adult):
    """The fused encoder spans every column's categories; a foreign one must stay all zeros."""
    train, _, test = adult
    model = fit(
        adult, [("cat", onehot(), ["workclass", "occupation"]), ("num", "passthrough", ["age"])]
    )
    rows = test.head(40).copy()
    # values each column never saw at fit time, but the other column did
    assert "Sales" not in set(train["workclass"]) and "Private" not in set(train["occupation"])
    rows["workclass"] = "Sales"
    rows.loc[rows.index[::2], "occupation"] = "Private"
    onx = OnnxModel(convert(model, rows.head(3)))
    np.testing.assert_allclose(onx.predict_proba(rows), model.predict_proba(rows), atol=1e-5)
    assert list(onx.predict(rows)) == list(model.predict(rows))


def test_columns_in_another_order_and_used_twice_keep_parity(adult):
    """Encoders over columns out of frame order, a column scaled and one-hot encoded both."""
    _, _, test = adult
    model = fit(
        adult,
        [
            ("late", onehot(), ["sex", "workclass"]),
            ("age_twice", OrdinalEncoder(), ["race"]),
            ("scaled", StandardScaler(), ["hours_per_week", "age"]),
            ("raw", "passthrough", ["age"]),
        ],
    )
    proto = convert(model, test.head(5))
    assert {i.name for i in proto.graph.input} == {"numbers", "strings"}
    result = onnx_parity(model, OnnxModel(proto), test)
    assert result.status == "pass", result.summary


def test_a_forest_on_numbers_only_reads_the_number_tensor_directly(adult):
    train, y, test = adult
    num = ["age", "education_num", "hours_per_week"]
    model = RandomForestClassifier(20, random_state=0, n_jobs=1).fit(train[num], y)
    proto = convert(model, test[num].head(5))
    assert [i.name for i in proto.graph.input] == ["numbers"]
    assert "Concat" not in ops(proto)
    assert onnx_parity(model, OnnxModel(proto), test[num]).metrics["label_agreement"] == 1.0


def test_a_model_exported_elsewhere_with_one_input_per_column_still_runs(adult):
    import skl2onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    _, _, test = adult
    cols = ["workclass", "age"]
    model = fit(adult, [("cat", onehot(), ["workclass"]), ("num", "passthrough", ["age"])])
    proto = skl2onnx.convert_sklearn(
        model,
        initial_types=[
            ("workclass", StringTensorType([None, 1])),
            ("age", FloatTensorType([None, 1])),
        ],
        options={id(model[-1]): {"zipmap": False}},
    )
    runner = OnnxRunner(proto.SerializeToString())
    assert runner.input_columns == cols
    test = test.dropna(subset=cols)  # plain skl2onnx knows no missing-string category
    labels, proba = runner.run(runner.feed(test[cols]))
    np.testing.assert_allclose(proba, model.predict_proba(test[cols]), atol=1e-5)
    assert runner.run(runner.feed_one(test[cols].iloc[0].to_dict()))[0][0] == labels[0]


def test_a_record_feed_names_the_missing_or_non_numeric_column(adult):
    train, y, test = adult
    cols = ["workclass", "age"]
    pre = ColumnTransformer([("cat", onehot(), ["workclass"]), ("num", "passthrough", ["age"])])
    model = Pipeline([("pre", pre), ("clf", LogisticRegression())]).fit(train[cols], y)
    onx = OnnxModel(convert(model, test[cols].head(3)))
    with pytest.raises(UsageError, match="no value for column 'age'"):
        onx.predict_one({"workclass": "Private"})
    with pytest.raises(UsageError, match="column 'age' must be numeric, got 'old'"):
        onx.predict_one({"workclass": "Private", "age": "old"})
    assert onx.predict_one({"workclass": None, "age": None}) in set(model.classes_)


@pytest.mark.parametrize("family", ["lr", "hgb"])
def test_a_multiclass_model_exports_with_every_label_and_probability_column(adult, family):
    from sklearn.ensemble import HistGradientBoostingClassifier

    train, _, test = adult
    target = "relationship"  # six classes
    cols = ["workclass", "education", "sex", "age", "hours_per_week"]
    clf = (
        LogisticRegression(max_iter=3000)
        if family == "lr"
        else HistGradientBoostingClassifier(max_iter=20, random_state=0)
    )
    pre = ColumnTransformer([("cat", onehot(), cols[:3]), ("num", StandardScaler(), cols[3:])])
    model = Pipeline([("pre", pre), ("clf", clf)]).fit(train[cols], train[target])
    onx = OnnxModel(convert(model, test[cols].head(3)))
    assert list(onx.classes_) == list(model.classes_) and len(onx.classes_) == 6
    assert onx.predict_proba(test[cols]).shape == (len(test), 6)
    result = onnx_parity(model, onx, test[cols])
    assert result.status == "pass", result.summary
