"""Counterfactual recourse on Adult: nbtrail's search against DiCE's random method.

    python benchmarks/bench_recourse.py [--rows 20] [--repeat 3]

A pipeline (one-hot encoding + HistGradientBoosting) is fitted, untimed, on the Adult train
split; the first ``--rows`` test rows it rejects (``<=50K``) are the queries. Both contenders
get the same rows, the same immutable features (sex, race, age, native_country; DiCE varies
the rest) and up to 3 counterfactuals per row (rows with a missing value are skipped: DiCE
refuses them, nbtrail does not):

* **nbtrail**: ``checks.recourse(..., immutable=..., redundant=[("education",
  "education_num")], n=3)``;
* **DiCE** 0.12: ``Dice(..., method="random").generate_counterfactuals(rows, total_CFs=3,
  desired_class="opposite", features_to_vary=rest, random_seed=0)``.

Each runs once untimed (warm-up), then ``--repeat`` times, order alternating; a run during
which other processes took CPU is run again (``_machine.py``). Figures: median seconds per
counterfactual (goal for nbtrail: under 0.3 s); share of rows with a valid counterfactual;
mean columns changed (the education pair counts 2) and distance (numeric: |delta| / MAD of
the train split, its std where the MAD is 0; 1 per categorical change); how many
counterfactuals are valid: the model's decision flips, immutable features are untouched,
numeric values stay inside the train split's observed [min, max]; and (reported, not
required) how many have an education that contradicts education_num. The last line is the
one to quote.

DiCE is not a dependency of nbtrail: it is measured only where ``dice_ml`` imports, in a
separate environment (dice-ml hard-depends on xgboost and lightgbm, which it needs only for
their own model types; xgboost pulls a 351 MB GPU wheel)::

    python3.11 -m venv .bench-dice
    .bench-dice/bin/pip install -e . -r benchmarks/requirements-dice.txt
    .bench-dice/bin/pip install --no-deps dice-ml==0.12 raiutils
    .bench-dice/bin/python benchmarks/bench_recourse.py

Elsewhere it prints nbtrail's figures and DiCE's last measured one, with its source.
"""

from __future__ import annotations

import argparse
import os
import statistics
import warnings

import numpy as np
import pandas as pd
from _machine import alternating, contention_note, timed, versus, wait_for_quiet

IMMUTABLE = ["sex", "race", "age", "native_country"]
DICE_NOTE = (
    "DiCE not measured here (dice_ml not importable); last measured: random 0.28 s/query, "
    "3 CFs each, 10 rejected Adult test rows, HGB pipeline, 8 features varied "
    "(shared/notes/libraries.md section 5)"
)


def setup(n_rows: int):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from nbtrail.datasets import load_adult

    train, test = load_adult("train"), load_adult("test")
    X, y = train.drop(columns="income"), train["income"]
    cat = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    num = [c for c in X.columns if c not in cat]
    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cat),
            ("num", "passthrough", num),
        ]
    )
    model = make_pipeline(pre, HistGradientBoostingClassifier(random_state=0)).fit(X, y)
    Xt = test.drop(columns="income").dropna()  # DiCE refuses queries with missing values
    rows = Xt[model.predict(Xt) == "<=50K"].head(n_rows)
    return model, X, y, rows, num


def run_nbtrail(model, X, rows) -> pd.DataFrame:
    from nbtrail.checks._recourse import recourse

    result = recourse(
        model, rows, data=X, immutable=IMMUTABLE, redundant=[("education", "education_num")], n=3
    )
    return result.counterfactuals.rename(columns={"row": "query"})


def dice_runner(model, X, y, num):
    os.environ.setdefault("TQDM_DISABLE", "1")  # DiCE draws a progress bar per call
    import dice_ml

    frame = X.assign(income=(y == ">50K").astype(int))
    data = dice_ml.Data(dataframe=frame, continuous_features=num, outcome_name="income")
    explainer = dice_ml.Dice(data, dice_ml.Model(model=model, backend="sklearn"), method="random")
    vary = [c for c in X.columns if c not in IMMUTABLE]

    def run(rows) -> pd.DataFrame:
        with warnings.catch_warnings():  # dice-ml 0.12 on pandas 3: Pandas4Warning (inplace=)
            warnings.simplefilter("ignore")
            out = explainer.generate_counterfactuals(
                rows,
                total_CFs=3,
                desired_class="opposite",
                features_to_vary=vary,
                random_seed=0,
                verbose=False,
            )
        found = []
        for label, example in zip(rows.index, out.cf_examples_list, strict=True):
            cfs = example.final_cfs_df
            if cfs is not None and len(cfs):
                found.append(cfs[list(X.columns)].assign(query=label))
        if not found:
            return pd.DataFrame(columns=[*X.columns, "query"])
        return pd.concat(found, ignore_index=True).astype(X.dtypes.to_dict())

    return run


def validity(cfs: pd.DataFrame, model, X, rows, num) -> dict:
    """Count counterfactuals that flip, leave immutable features alone and stay in range."""
    if not len(cfs):
        return {
            "cfs": 0,
            "valid": 0,
            "rows_valid": 0,
            "contradict_education": 0,
            "changed": 0,
            "distance": 0,
        }
    features = cfs[list(X.columns)]
    ok = model.predict(features) == ">50K"
    original = rows.loc[cfs["query"]].reset_index(drop=True)
    for c in IMMUTABLE:
        ok &= (features[c].reset_index(drop=True) == original[c]).to_numpy(dtype=bool)
    for c in num:
        ok &= features[c].between(X[c].min(), X[c].max()).to_numpy(dtype=bool)
    differs = features.reset_index(drop=True) != original[list(X.columns)]
    changed = differs.sum(axis=1)
    distance = differs.drop(columns=num).sum(axis=1).astype("float64")
    for c in num:  # the same measure for both: |delta| / MAD (std where the MAD is 0)
        v = X[c].to_numpy(dtype="float64")
        scale = np.median(np.abs(v - np.median(v))) or np.std(v) or 1.0
        delta = features[c].to_numpy(dtype="float64") - original[c].to_numpy(dtype="float64")
        distance += np.abs(delta) / scale
    mapping = X.drop_duplicates("education").set_index("education")["education_num"]
    contradict = int((features["education"].map(mapping) != features["education_num"]).sum())
    return {
        "cfs": len(cfs),
        "valid": int(ok.sum()),
        "rows_valid": cfs.loc[ok, "query"].nunique(),
        "contradict_education": contradict,
        "changed": float(changed.mean()),
        "distance": float(distance.mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    model, X, y, rows, num = setup(args.rows)
    contenders = {"nbtrail": lambda: run_nbtrail(model, X, rows)}
    try:
        dice = dice_runner(model, X, y, num)
        contenders["DiCE random"] = lambda: dice(rows)
    except ImportError:
        dice = None
    results = {name: fn() for name, fn in contenders.items()}  # warm-up, and the output judged
    wait_for_quiet()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for r in range(args.repeat):
        for name in alternating(list(contenders), r):
            times[name].append(timed(contenders[name]))
    print(contention_note())
    figures = {}
    for name, seconds in times.items():
        check = validity(results[name], model, X, rows, num)
        total = statistics.median(seconds)
        per_cf = total / max(check["cfs"], 1)
        figures[name] = per_cf
        print(
            f"{name}: {total:.2f} s for {len(rows)} rows (median of {args.repeat}), "
            f"{per_cf:.3f} s per counterfactual; {check['valid']} of {check['cfs']} "
            f"counterfactuals valid; rows with a valid one: {check['rows_valid']}/{len(rows)} "
            f"({check['rows_valid'] / len(rows):.0%}); columns changed per counterfactual "
            f"{check['changed']:.2f}, mean distance {check['distance']:.2f}; "
            f"education contradicting education_num: "
            f"{check['contradict_education']}"
        )
    ours = figures["nbtrail"]
    mine = validity(results["nbtrail"], model, X, rows, num)
    line = (
        f"recourse on {len(rows)} rejected Adult test rows (HGB pipeline, 4 immutable features): "
        f"nbtrail {ours:.3f} s per counterfactual (goal under 0.3 s), "
        f"{mine['valid']}/{mine['cfs']} valid, mean distance {mine['distance']:.2f}, "
        f"{mine['rows_valid'] / len(rows):.0%} of rows with recourse"
    )
    if dice is not None:
        theirs = figures["DiCE random"]
        peer = validity(results["DiCE random"], model, X, rows, num)
        line += (
            f"; DiCE random {theirs:.3f} s per counterfactual, {peer['valid']}/{peer['cfs']} "
            f"valid, mean distance {peer['distance']:.2f}, {peer['rows_valid'] / len(rows):.0%} "
            f"of rows "
            f"(nbtrail {versus(ours, theirs)} per counterfactual)"
        )
    else:
        print(DICE_NOTE)
        line += "; DiCE not measured (see above)"
    print(line)


if __name__ == "__main__":
    main()
