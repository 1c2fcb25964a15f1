"""What logging costs a predict call: ``nbtrail.monitored(model).predict`` vs ``model.predict``.

    python benchmarks/bench_logging.py [--calls 200] [--rows 1 100 1000]

The Adult logistic regression pipeline (one-hot + scaling) answers batches of ``--rows`` test
rows; the monitored wrapper answers the same batches and appends each one to the prediction
log on the embedded SQLite trail: a Parquet segment in the blob store, and a ``log`` run with
the segment's artifact, its lineage to the model and its audit events, committed before the
call returns (no background writer: the figure includes every commit). Ids are pseudonymised
(keyed HMAC). Imports, trail creation and the model's registration are untimed; both sides
warm up, get the same calls, and alternate. Figures are medians per call. The last line is the
one to quote.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import joblib
from _machine import contention_note, wait_for_quiet
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import nbtrail
from nbtrail.datasets import load_adult
from nbtrail.store import init_trail

NUM = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
CAT = ["workclass", "marital_status", "occupation", "relationship", "race", "sex"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 100, 1000])
    args = parser.parse_args()
    train, test = load_adult("train").dropna(), load_adult("test").dropna()
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), CAT), (StandardScaler(), NUM)
        ),
        LogisticRegression(max_iter=1000),
    ).fit(train[NUM + CAT], train["income"] == ">50K")
    folder = Path(tempfile.mkdtemp(prefix="nbtrail-bench-logging-"))
    previous = os.getcwd()
    os.chdir(folder)
    os.environ["NBTRAIL_PSEUDONYM_KEY"] = "bench-key-0123456789abcdef"
    figures = {}
    try:
        init_trail(folder).close()
        joblib.dump(model, "model.joblib")
        wrapped = nbtrail.monitored(model, reference="model.joblib", id_column="request")
        for rows in args.rows:
            batch = test[NUM + CAT].head(rows)
            with_ids = batch.assign(request=range(rows))
            plain_times, logged_times = [], []

            def plain(batch=batch, plain_times=plain_times):
                started = time.perf_counter()
                model.predict(batch)
                plain_times.append(time.perf_counter() - started)

            def logged(with_ids=with_ids, logged_times=logged_times):
                started = time.perf_counter()
                wrapped.predict(with_ids)
                logged_times.append(time.perf_counter() - started)

            for _ in range(3):  # warm-up
                plain()
                logged()
            plain_times.clear()
            logged_times.clear()
            wait_for_quiet()
            for call in range(args.calls):
                for work in (plain, logged) if call % 2 == 0 else (logged, plain):
                    work()
            figures[rows] = (statistics.median(plain_times), statistics.median(logged_times))
            print(
                f"{rows:>5} rows: predict {figures[rows][0] * 1e3:.2f} ms, monitored "
                f"{figures[rows][1] * 1e3:.2f} ms"
            )
        assert wrapped.failures == 0
        wrapped.close()
    finally:
        os.chdir(previous)
        shutil.rmtree(folder, ignore_errors=True)
    print(contention_note())
    print(
        "Logging a predict call (SQLite, one audited segment per call, median of "
        f"{args.calls}): "
        + ", ".join(
            f"{rows} row(s) +{(b - a) * 1e3:.1f} ms ({b / a:.1f}x model.predict)"
            for rows, (a, b) in figures.items()
        )
    )


if __name__ == "__main__":
    main()
