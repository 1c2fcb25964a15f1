"""``nbtrail demo``: the most complete thing nbtrail can do, end to end, on real data.

It makes a demo folder with its own trail (always the embedded SQLite store, whatever
``NBTRAIL_STORE_URL`` says), writes the bundled Adult census data there as a CSV file, and
records two runs a data scientist would write by hand:

* ``prepare``: read the CSV, clean it (drop rows with missing values and duplicates), split
  into train and test, and snapshot each table so it can be restored byte for byte;
* ``train``: fit a scikit-learn pipeline on the train split, score it on the test split,
  save the model with joblib, and record the metrics.

Then it verifies the trail and prints the model's lineage and where everything is.
"""

from __future__ import annotations

import time
from pathlib import Path

from .config import HOME_DIRNAME, Settings, current_actor
from .datasets import ADULT_CREDIT, write_adult_csv
from .store import Trail, init_trail

__all__ = ["run_demo"]


def _prepare(trail: Trail, csv_path: Path, say) -> tuple:
    import pandas as pd
    from sklearn.model_selection import train_test_split

    with trail.start_run("prepare", kind="script", params={"test_size": 0.25, "seed": 0}) as run:
        source = run.use(csv_path, name="adult.csv", snapshot=True)
        raw = pd.read_csv(csv_path, na_values="?")
        raw_art = run.produce(raw, name="raw", derived_from=[source])
        clean = raw.dropna().drop_duplicates().reset_index(drop=True)
        clean_art = run.produce(clean, name="clean", derived_from=[raw_art], snapshot=True)
        train, test = train_test_split(
            clean, test_size=0.25, random_state=0, stratify=clean["income"]
        )
        train_art = run.produce(train, name="train", derived_from=[clean_art], snapshot=True)
        test_art = run.produce(test, name="test", derived_from=[clean_art], snapshot=True)
        run.log_metrics({"rows_raw": len(raw), "rows_clean": len(clean)})
    say(
        f"  prepare  read {len(raw):,} rows ({source.short}), kept {len(clean):,} "
        f"after cleaning; train {len(train):,} / test {len(test):,}, all snapshotted"
    )
    return train, test, train_art, test_art


def _train(trail: Trail, folder: Path, train, test, train_art, test_art, say) -> Path:
    import joblib
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    target = "income"
    categorical = [c for c in train.columns if c != target and train[c].dtype.kind not in "iuf"]
    numeric = [c for c in train.columns if c != target and c not in categorical]
    params = {"C": 1.0, "max_iter": 1000}
    with trail.start_run("train", kind="script", params=params) as run:
        run.use(train_art, name="train")
        run.use(test_art, name="test")
        model = make_pipeline(
            ColumnTransformer(
                [
                    ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
                    ("numeric", StandardScaler(), numeric),
                ]
            ),
            LogisticRegression(**params),
        )
        y_train = train[target] == ">50K"
        y_test = test[target] == ">50K"
        model.fit(train.drop(columns=target), y_train)
        scores = model.predict_proba(test.drop(columns=target))[:, 1]
        metrics = {
            "accuracy": float(accuracy_score(y_test, scores >= 0.5)),
            "roc_auc": float(roc_auc_score(y_test, scores)),
        }
        run.log_metrics(metrics)
        model_art = run.produce(model, name="model", derived_from=[train_art], snapshot=True)
        model_path = folder / "models" / "adult-model.joblib"
        model_path.parent.mkdir(exist_ok=True)
        joblib.dump(model, model_path)
        run.produce(model_path, name="adult-model.joblib", derived_from=[model_art])
    say(
        f"  train    logistic regression: accuracy {metrics['accuracy']:.3f}, "
        f"ROC AUC {metrics['roc_auc']:.3f}; saved {model_path.relative_to(folder)}"
    )
    return model_path


def run_demo(folder: Path, say=print) -> int:
    """Run the demo in ``folder``; return the exit code (0 when the trail verifies).

    Parameters
    ----------
    folder : Path
        Created if missing. Running the demo again adds runs to the same trail.
    say : callable
        Where progress lines go.
    """
    started = time.perf_counter()
    folder = Path(folder).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    home = folder / HOME_DIRNAME
    settings = Settings(home=home, actor=current_actor(), home_source="init")
    say(f"nbtrail demo in {folder}")
    say(f"  data     {ADULT_CREDIT}")
    csv_path = folder / "data" / "adult.csv"
    csv_path.parent.mkdir(exist_ok=True)
    if not csv_path.exists():
        write_adult_csv(csv_path)
    with init_trail(folder, settings=settings) as trail:
        train, test, train_art, test_art = _prepare(trail, csv_path, say)
        model_path = _train(trail, folder, train, test, train_art, test_art, say)
        report = trail.verify()
        say(f"  verify   {report.summary()}")
        say("")
        say(f"lineage of {model_path.relative_to(folder)}:")
        say(trail.lineage(model_path, direction="upstream").to_text())
        say("")
        say("where everything is:")
        say(f"  trail database  {home / 'trail.db'}")
        say(f"  snapshots       {home / 'objects'}")
        say(f"  input data      {csv_path}")
        say(f"  model           {model_path}")
        say("")
        say(f"try:  cd {folder}")
        say("      nbtrail runs")
        say("      nbtrail lineage models/adult-model.joblib --format dot")
        say("      nbtrail checkout clean clean.parquet")
        say("      nbtrail verify")
    say(f"done in {time.perf_counter() - started:.1f}s")
    return 0 if report.ok else 1
