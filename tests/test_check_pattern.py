"""Check pattern v2: subjects in roles, the registry and its plugins, renderers, producers."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from nbtrail import checks
from nbtrail.checks import CheckResult, Product, check, produce, register_renderer
from nbtrail.errors import GateFailed, UsageError
from nbtrail.fingerprints import fingerprint
from nbtrail.store import init_trail


@pytest.fixture
def trail(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    opened = init_trail(tmp_path)
    yield opened
    opened.close()


def _frames():
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"a": rng.normal(size=300), "b": rng.integers(0, 5, 300)})
    train["y"] = (train["a"] > 0).astype(int)
    test = pd.DataFrame({"a": rng.normal(size=100), "b": rng.integers(0, 5, 100)})
    test["y"] = (test["a"] > 0).astype(int)
    return train, test


def test_a_check_records_every_subject_in_its_role(trail):
    train, test = _frames()
    with trail.start_run("audit") as run:
        result = checks.leakage(train, test, target="y").record(run)
    assert [s.role for s in result.subjects] == ["train", "test"]
    assert result.subjects[1].digest == fingerprint(test).digest
    (record,) = trail.checks([run.id])
    assert [(s.role, s.artifact_id) for s in record.subjects] == [
        ("train", fingerprint(train).digest),
        ("test", fingerprint(test).digest),
    ]
    assert (record.kind, record.version) == ("leakage", "2")
    assert record.params["max_shared_share"] == 0.01 and record.params["target"] == "y"
    assert trail.verify().ok


def test_every_verdict_about_an_artifact_across_runs(trail):
    train, test = _frames()
    for name in ("first", "second"):
        with trail.start_run(name) as run:
            checks.leakage(train, test, target="y").record(run)
            checks.data_quality(test, target="y").record(run)
    about_test = trail.checks(artifact=fingerprint(test).digest)
    assert sorted(c.name for c in about_test) == [
        "data_quality",
        "data_quality",
        "leakage",
        "leakage",
    ]
    about_train = trail.checks(artifact=fingerprint(train).digest)
    assert sorted(c.name for c in about_train) == ["leakage", "leakage"]
    assert {c.run_id for c in about_train} == {r.id for r in trail.runs()}


def test_the_registry_describes_each_check():
    available = checks.available_checks()
    assert {"schema", "data_quality", "leakage", "label_issues"} <= set(available)
    spec = checks.get_check("leakage")
    assert spec.roles == {"train": "train", "test": "test"}
    assert spec.parameters["max_shared_share"] == {
        "type": "float",
        "default": 0.01,
        "required": False,
    }
    assert spec.parameters["target"]["required"] is True
    with pytest.raises(UsageError, match="no check named 'nope'"):
        checks.get_check("nope")


def test_a_third_party_check_registers_through_an_entry_point(tmp_path, monkeypatch, trail):
    from nbtrail.checks import _registry

    package = tmp_path / "plugin"
    package.mkdir()
    (package / "nbtrail_rowcount.py").write_text(
        textwrap.dedent(
            """
            from nbtrail.checks import CheckResult, check

            @check("rowcount", version="1.2", roles={"data": "data"})
            def rowcount(data, *, minimum: int = 1, name: str = "rowcount"):
                status = "pass" if len(data) >= minimum else "fail"
                return CheckResult(name, status, f"{len(data)} rows", {"rows": len(data)})
            """
        )
    )
    info = package / "nbtrail_rowcount-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nbtrail-rowcount\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[nbtrail.checks]\nrowcount = nbtrail_rowcount:rowcount\n"
    )
    monkeypatch.syspath_prepend(str(package))
    monkeypatch.setattr(_registry, "_loaded_entry_points", False)
    monkeypatch.setattr(_registry, "_CHECKS", dict(_registry._CHECKS))
    spec = checks.get_check("rowcount")
    assert (spec.version, spec.parameters["minimum"]["default"]) == ("1.2", 1)
    with trail.start_run("plugin") as run:
        spec.function(pd.DataFrame({"x": [1]}), minimum=2).record(run)
    (recorded,) = trail.checks([run.id])
    assert (recorded.kind, recorded.version, recorded.status) == ("rowcount", "1.2", "fail")
    assert recorded.params == {"minimum": 2}
    sys.modules.pop("nbtrail_rowcount", None)


def test_a_plugin_that_is_not_a_check_is_refused(tmp_path, monkeypatch):
    from nbtrail.checks import _registry

    package = tmp_path / "bad"
    package.mkdir()
    (package / "nbtrail_notacheck.py").write_text("def thing():\n    return 1\n")
    info = package / "nbtrail_notacheck-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nbtrail-notacheck\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[nbtrail.checks]\nthing = nbtrail_notacheck:thing\n")
    monkeypatch.syspath_prepend(str(package))
    monkeypatch.setattr(_registry, "_loaded_entry_points", False)
    monkeypatch.setattr(_registry, "_CHECKS", dict(_registry._CHECKS))
    with pytest.raises(UsageError, match="entry point 'thing' in nbtrail.checks"):
        checks.available_checks()
    sys.modules.pop("nbtrail_notacheck", None)


def test_a_check_must_return_a_result():
    @check("broken_probe", version=1)
    def broken(data):
        return {"status": "pass"}

    with pytest.raises(UsageError, match="returned dict, not a result"):
        broken([1])


def test_headline_metrics_are_scalars_and_the_rest_is_findings():
    with pytest.raises(UsageError, match="per-group or per-feature values go in the findings"):
        CheckResult("fairness", "pass", metrics={"selection_rate": {"Female": 0.1}})
    result = CheckResult(
        "fairness",
        "pass",
        metrics={"selection_rate_difference": 0.17},
        details=pd.DataFrame({"group": ["Female", "Male"], "selection_rate": [0.11, 0.28]}),
    )
    assert result.metrics == {"selection_rate_difference": 0.17}


def test_a_kind_draws_through_its_renderer_everywhere(trail, monkeypatch):
    from nbtrail.checks import _render
    from nbtrail.report.html import render_report
    from nbtrail.server.views import checks_view

    monkeypatch.setattr(_render, "_RENDERERS", dict(_render._RENDERERS))

    def bars(result):
        return f"<svg class='probe-bars'><title>{len(result.details)} groups</title></svg>"

    register_renderer("probe_kind", body=bars, filters=("group",))

    @check("probe_kind", version=1, roles={"data": "data"})
    def probe(data, *, name: str = "probe"):
        details = pd.DataFrame({"group": ["a", "b"], "rate": [0.1, 0.2]})
        return CheckResult(name, "warn", "two groups", {"gap": 0.1}, details=details)

    frame = pd.DataFrame({"x": [1, 2]})
    live = probe(frame)
    assert "probe-bars" in live.to_html()
    widget = live.widget()
    assert "probe-bars" in widget.header.value and list(widget.filters) == ["group"]
    with trail.start_run("report", kind="template") as run:
        live.record(run)
    assert "probe-bars" in render_report(trail, run.id)
    (served,) = checks_view(trail, run.id)
    assert "probe-bars" in served["html"] and served["kind"] == "probe_kind"
    assert served["subjects"][0]["role"] == "data"


def test_a_producer_records_its_product_with_lineage_to_its_inputs(trail, tmp_path):
    from sklearn.linear_model import LogisticRegression

    X = np.arange(20.0).reshape(-1, 1)
    model = LogisticRegression().fit(X, (X[:, 0] > 9).astype(int))
    with trail.start_run("export") as run:
        exported = tmp_path / "model.txt"
        exported.write_text(repr(model.coef_.tolist()))
        product = produce(exported, name="model.txt", inputs={"model": model, "sample": X}, run=run)
        assert isinstance(product, Product) and product.kind == "file"
        assert set(product.inputs) == {"model", "sample"}
        parity = CheckResult("parity", "pass", "same decisions")
        with pytest.raises(UsageError, match="does not judge 'model.txt'"):
            product.accept(parity)

        @check("parity_probe", version=1, roles={"exported": "exported_model"})
        def parity_probe(exported, *, ok: bool = True, name: str = "parity"):
            return CheckResult(name, "pass" if ok else "fail", "compared")

        product.accept(parity_probe(exported).record(run))
        assert product.status == "pass" and product.raise_for_status() is product
        product.accept(parity_probe(exported, ok=False).record(run))
        with pytest.raises(GateFailed, match="'model.txt' was not accepted: 'parity'"):
            product.raise_for_status()
    upstream = trail.lineage(exported, direction="upstream")
    kinds = {node["kind"] for node in upstream.nodes.values()}
    assert {"model", "ndarray", "file"} <= kinds
    import sqlalchemy as sa

    from nbtrail.store import _schema

    e = _schema.edges
    with trail.engine.connect() as conn:
        derived = set(
            conn.execute(
                sa.select(e.c.role, e.c.source_id).where(
                    e.c.kind == "derived", e.c.artifact_id == product.digest
                )
            ).all()
        )
    assert derived == {("model", product.inputs["model"]), ("sample", product.inputs["sample"])}
    assert product.inputs["sample"] == fingerprint(X).digest
    verdicts = trail.checks(artifact=product.digest)
    assert [c.status for c in verdicts] == ["pass", "fail"]
    assert trail.verify().ok


def test_produce_outside_any_run_still_returns_the_product(tmp_path):
    product = produce(np.arange(3), name="numbers", inputs={"source": pd.Series([1, 2, 3])})
    assert product.digest == fingerprint(np.arange(3)).digest
    with pytest.raises(UsageError, match="is not a file"):
        produce(tmp_path / "missing.onnx", name="missing")


def test_data_passed_as_an_option_is_described_never_copied_into_the_trail(trail):
    @check("sum_check", version=1, roles={"data": "data"})
    def sum_check(data, *, weights=None, labels=None, cutoffs=(1, 2)):
        return CheckResult("sum_check", "pass", "summed")

    labels = np.arange(1000)
    with trail.start_run("audit") as run:
        sum_check(
            pd.DataFrame({"a": [1, 2]}), weights=pd.Series(range(50)), labels=list(labels)
        ).record(run)
    (record,) = trail.checks([run.id])
    assert record.params["weights"] == "Series of shape (50,)"
    assert record.params["labels"] == "list of shape (1000,)"
    assert record.params["cutoffs"] == [1, 2]  # a short option is kept as given
