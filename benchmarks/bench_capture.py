"""Cost of kernel capture: per small cell, and on a realistic notebook, writer's commits included.

    python benchmarks/bench_capture.py [--cells 1000] [--rows 1000000] [--repeat 3] [--gallery 10]

nbtrail captures in the cell's thread and hands the facts to a background writer that commits
them between cells (or after 2 s at most). Both figures below count those commits.

1. **Small cells**, in one IPython shell in this process: the same ``--cells`` cells
   (assignments, small frames and arrays, function definitions) run without nbtrail ("off")
   and with ``%load_ext nbtrail`` ("on"), ``--repeat`` rounds each, the order reversed on every
   other repeat, after an untimed warm-up round of each. Untimed per round: loading the
   extension and committing the session's start-up facts (its environment), and unloading it
   after. Timed per round: every cell's wall time around ``run_cell`` (pre/post-cell hooks
   included), then, for "on", ``session.writer.flush()`` until every fact of the round is
   committed. Reported:

   - user-visible latency: median and p99 of the per-cell wall times, off vs on;
   - the round's cost per cell with the writer's commits: wall time of the round including
     the flush, and ``time.process_time()`` over the round including the flush (CPU of every
     thread of the process: the writer's too), divided by the number of cells; median of the
     rounds.

2. **A notebook**, executed cell by cell by nbclient in a real kernel: read a ``--rows``-row
   CSV, engineer features, fit a HistGradientBoostingClassifier, save it with joblib and score
   it. Variants:

   - plain;
   - ``%load_ext nbtrail``; its last, timed cell is ``%unload_ext nbtrail``, which commits
     every queued fact and ends the session run;
   - ``mlflow.sklearn.autolog(log_models=False, log_datasets=False, log_input_examples=False,
     log_model_signatures=False, log_post_training_metrics=False, silent=True)`` to a SQLite
     store (benchmark environment only); its last, timed cell is
     ``mlflow.flush_async_logging(); mlflow.end_run()``. What autolog still does and no option
     turns off: parameters and tags, training metrics and ``training_score`` (predictions on
     the training data), classifier plots (confusion matrix, ROC and PR curves), the
     estimator's HTML. nbtrail instead fingerprints the CSV, the frames, the model and the
     saved file and records the cells and their lineage.

   Untimed, in every variant alike: one prelude cell importing pandas, scikit-learn, joblib,
   nbtrail and MLflow (when installed), the variant's set-up cell (load the extension / set up
   the MLflow store and autolog), and a warm-up cell (read a 2,000-row CSV, fit, dump), then a
   1 s pause so the writer commits the warm-up's facts. Timed: from the first work cell's
   request to the last cell's reply, driven from this process, plus the kernel's CPU time
   (``time.process_time()`` in the kernel) over the same cells. Each variant runs in a fresh
   kernel and folder ``--repeat`` times, in an order that reverses every repeat; medians.

A round or notebook run during which other processes took CPU is run again (``_machine.py``):
HistGradientBoosting's OpenMP threads slow down many times over when another process holds a
core of a 2-core machine.

Budgets (DESIGN.md): median added at most 2 ms, p99 at most 10 ms, the notebook at most 5%
slower. The last line is the one to quote.

3. **Notebooks nobody here wrote** (``--gallery N``, see ``_gallery.py``): N short
   scikit-learn gallery examples, fetched from the index as the installed version's source
   distribution and converted with jupytext, each run plain and captured in fresh kernels,
   interleaved, BLAS on one thread, whole-run time including kernel start and ``%load_ext``;
   reported per notebook, and as the median added time per cell.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from _machine import Watch, contention_note, quietly, versus, wait_for_quiet

SMALL_CELLS = (
    "x{i} = {i} * 2 + 1",
    "part{i} = base.head(5).copy()",
    "total = base['a'].sum() + {i}",
    "def f{i}(v):\n    return v + {i}",
    "arr{i} = np.arange(100) + {i}",
    "label = 'row-{i}'.upper()",
    "stats = {{'n': len(base), 'i': {i}}}",
    "series{i} = base['b'].iloc[:10] * {i}",
)


def small_cells(n: int) -> list[str]:
    return [SMALL_CELLS[i % len(SMALL_CELLS)].format(i=i) for i in range(n)]


def capture_of(shell) -> SimpleNamespace:
    """Flush, facts written and capture errors of the session ``%load_ext nbtrail`` started."""
    # internal: adapt if nbtrail.capture moves. The object behind the %trail magic holds the
    # session; its background writer's flush() waits until every queued fact is committed;
    # status() is what `%trail` shows.
    session = shell.find_magic("trail").__self__.session
    return SimpleNamespace(
        flush=session.writer.flush,
        written=lambda: session.status()["facts written"],
        errors=lambda: (session.status()["capture errors"], session.status()["last errors"]),
    )


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def small_round(shell, cells: list[str], capture: bool) -> dict:
    """Run the cells once; with capture, the round ends when the writer has committed all."""
    session = None
    if capture:
        shell.run_cell("%load_ext nbtrail", store_history=False)
        session = capture_of(shell)
        assert session.flush(timeout=600)  # the session's start-up facts: not per cell
        written = session.written()
    gc.collect()
    with Watch() as watch:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        per_cell = []
        for cell in cells:
            start = time.perf_counter()
            shell.run_cell(cell, store_history=True)
            per_cell.append(time.perf_counter() - start)
        flush = 0.0
        if session is not None:
            start = time.perf_counter()
            if not session.flush(timeout=600):
                raise RuntimeError("the writer did not finish within 600 s")
            flush = time.perf_counter() - start
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    facts = 0
    if session is not None:
        facts = session.written() - written
        errors, messages = session.errors()
        shell.run_cell("%unload_ext nbtrail", store_history=False)
        assert errors == 0, messages
    result = {"cells": per_cell, "wall": wall, "cpu": cpu, "flush": flush, "facts": facts}
    return result, watch.contended


def bench_small_cells(n: int, repeat: int, folder: Path) -> dict:
    from IPython.core.interactiveshell import InteractiveShell

    previous = os.getcwd()
    os.chdir(folder)
    os.environ["NBTRAIL_HOME"] = str(folder / ".nbtrail")
    try:
        shell = InteractiveShell.instance()
        shell.run_cell(
            "import numpy as np, pandas as pd, nbtrail\n"
            "base = pd.DataFrame({'a': range(100), 'b': range(100)})"
        )
        cells = small_cells(n)
        small_round(shell, cells[: max(50, n // 5)], capture=False)  # warm-up, untimed
        small_round(shell, cells[: max(50, n // 5)], capture=True)
        rounds: dict[str, list[dict]] = {"off": [], "on": []}
        for r in range(repeat):
            for variant in ("off", "on") if r % 2 == 0 else ("on", "off"):
                on = variant == "on"
                rounds[variant].append(
                    quietly(lambda on=on: small_round(shell, cells, capture=on), watches=True)
                )
    finally:
        os.chdir(previous)
        os.environ.pop("NBTRAIL_HOME", None)
    out = {}
    for variant, results in rounds.items():
        every = [t for result in results for t in result["cells"]]
        out[variant] = {
            "median": statistics.median(every),
            "p99": quantile(every, 0.99),
            "wall": statistics.median(result["wall"] for result in results) / n,
            "cpu": statistics.median(result["cpu"] for result in results) / n,
            "flush": statistics.median(result["flush"] for result in results),
            "facts": statistics.median(result["facts"] for result in results),
        }
    return out


# -- the notebook ------------------------------------------------------------------------------

PRELUDE = (
    "import time\nimport joblib\nimport numpy as np\nimport pandas as pd\n"
    "from sklearn.ensemble import HistGradientBoostingClassifier\nimport nbtrail"
)
PRELUDE_MLFLOW = "\nimport mlflow\nimport mlflow.sklearn"

SETUP = {
    "plain": "pass",
    "nbtrail": "%load_ext nbtrail",
    "mlflow": "mlflow.set_tracking_uri('sqlite:///mlflow.db')\n"
    "mlflow.set_experiment('bench')\n"
    "mlflow.sklearn.autolog(log_models=False, log_datasets=False, log_input_examples=False,\n"
    "                       log_model_signatures=False, log_post_training_metrics=False,\n"
    "                       silent=True)",
}

WARM_UP = (
    "warm = pd.read_csv('warmup.csv')\n"
    "warm_model = HistGradientBoostingClassifier(max_iter=5, random_state=0)\n"
    "warm_model.fit(warm.drop(columns=['label']), warm['label'])\n"
    "joblib.dump(warm_model, 'warmup.joblib')"
)

WORK = (
    "frame = pd.read_csv('data.csv')",
    "frame['ratio'] = frame['f0'] / (frame['f1'].abs() + 1)\n"
    "frame['bucket'] = pd.cut(frame['f2'], 10, labels=False)\n"
    "frame['f3_sq'] = frame['f3'] ** 2\n"
    "features = frame.drop(columns=['label'])\ntarget = frame['label']",
    "model = HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(features, target)",
    "joblib.dump(model, 'model.joblib')\nscore = model.score(features, target)",
)

END = {
    "plain": "cpu_end = time.process_time()",
    "nbtrail": "%unload_ext nbtrail\ncpu_end = time.process_time()",
    "mlflow": "mlflow.flush_async_logging()\nmlflow.end_run()\ncpu_end = time.process_time()",
}


def write_data(path: Path, rows: int) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"f{i}": rng.normal(size=rows).round(5) for i in range(8)})
    frame["city"] = rng.choice(["north", "south", "east", "west"], rows)
    frame["label"] = (frame.f0 + frame.f1 * 0.5 + rng.normal(size=rows) > 0).astype(int)
    frame["city"] = frame["city"].astype("category").cat.codes
    frame.to_csv(path, index=False)
    frame.head(2000).to_csv(path.with_name("warmup.csv"), index=False)


def run_notebook(variant: str, folder: Path, have_mlflow: bool) -> dict:
    """Execute one variant in a fresh kernel; return wall and kernel CPU of the timed cells."""
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    untimed = [PRELUDE + (PRELUDE_MLFLOW if have_mlflow else ""), SETUP[variant], WARM_UP]
    mark = ["cpu_start = time.process_time()"]
    timed = [*WORK, END[variant]]
    report = ["print(repr(cpu_end - cpu_start))"]
    nb = new_notebook()
    nb.cells = [new_code_cell(source) for source in untimed + mark + timed + report]
    client = NotebookClient(
        nb, kernel_name="python3", timeout=1800, resources={"metadata": {"path": str(folder)}}
    )
    os.environ["NBTRAIL_HOME"] = str(folder / ".nbtrail")  # the kernel inherits it
    with client.setup_kernel():
        index = 0
        for cell in nb.cells[: len(untimed)]:
            client.execute_cell(cell, index)
            index += 1
        time.sleep(1.0)  # an idle kernel: the writer commits the warm-up's facts now
        client.execute_cell(nb.cells[index], index)  # cpu_start
        index += 1
        with Watch() as watch:
            start = time.perf_counter()
            for cell in nb.cells[index : index + len(timed)]:
                client.execute_cell(cell, index)
                index += 1
            wall = time.perf_counter() - start
        client.execute_cell(nb.cells[index], index)
    outputs = nb.cells[index].outputs
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    return {"wall": wall, "cpu": float(printed.strip())}, watch.contended


def bench_notebook(rows: int, repeat: int, folder: Path) -> dict:
    write_data(folder / "data.csv", rows)
    have_mlflow = importlib.util.find_spec("mlflow") is not None
    variants = ["plain", "nbtrail"] + (["mlflow"] if have_mlflow else [])
    results: dict[str, list[dict]] = {v: [] for v in variants}
    for r in range(repeat):
        for variant in variants if r % 2 == 0 else variants[::-1]:  # drift hits all alike

            def once(variant=variant):
                work = Path(tempfile.mkdtemp(dir=folder))  # a fresh folder for every run
                for name in ("data.csv", "warmup.csv"):
                    os.link(folder / name, work / name)
                return run_notebook(variant, work, have_mlflow)

            result = quietly(once, watches=True)
            results[variant].append(result)
            print(
                f"notebook repeat {r + 1} {variant}: {result['wall']:.2f} s wall, "
                f"{result['cpu']:.2f} s kernel CPU",
                flush=True,
            )
    os.environ.pop("NBTRAIL_HOME", None)
    return {
        v: {key: statistics.median(x[key] for x in values) for key in ("wall", "cpu")}
        for v, values in results.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--gallery", type=int, default=10, help="scikit-learn gallery examples to run (0: none)"
    )
    args = parser.parse_args()
    os.environ.pop("NBTRAIL_HOME", None)
    wait_for_quiet()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "small").mkdir()
        (folder / "notebook").mkdir()
        nb = bench_notebook(args.rows, args.repeat, folder / "notebook")
        small = bench_small_cells(args.cells, args.repeat, folder / "small")
        gallery = None
        if args.gallery:
            from _gallery import gallery_round, summarise

            (folder / "gallery").mkdir()
            gallery = summarise(gallery_round(folder / "gallery", args.gallery, args.repeat))

    off, on = small["off"], small["on"]
    ms = 1000
    print(contention_note())
    if gallery is not None:
        from _gallery import report

        for line in report(gallery):
            print(line)
    print(
        f"small cells, latency: median {off['median'] * ms:.2f} -> {on['median'] * ms:.2f} ms, "
        f"p99 {off['p99'] * ms:.2f} -> {on['p99'] * ms:.2f} ms"
    )
    print(
        f"small cells, per cell with the writer's commits ({on['facts']:.0f} facts per round, "
        f"flush {on['flush']:.2f} s counted): wall {off['wall'] * ms:.2f} -> "
        f"{on['wall'] * ms:.2f} ms, CPU {off['cpu'] * ms:.2f} -> {on['cpu'] * ms:.2f} ms"
    )
    for variant, figures in nb.items():
        print(
            f"notebook {variant}: {figures['wall']:.2f} s wall, {figures['cpu']:.2f} s kernel CPU "
            "(median)"
        )
    plain = nb["plain"]

    def change(before: float, after: float) -> str:
        return f"{before * ms:.2f} -> {after * ms:.2f} ms ({(after - before) * ms:+.2f})"

    def percent(variant: str, key: str) -> str:
        return f"{(nb[variant][key] / plain[key] - 1) * 100:+.1f}%"

    notebook = (
        f"plain {plain['wall']:.2f} s, nbtrail {nb['nbtrail']['wall']:.2f} s "
        f"({percent('nbtrail', 'wall')}, CPU {percent('nbtrail', 'cpu')})"
    )
    if "mlflow" in nb:
        notebook += (
            f", mlflow.sklearn.autolog (models, datasets, signatures, examples, post-training "
            f"metrics off) {nb['mlflow']['wall']:.2f} s ({percent('mlflow', 'wall')}, CPU "
            f"{percent('mlflow', 'cpu')})"
        )
        gaps = nb["nbtrail"]["wall"] - plain["wall"], nb["mlflow"]["wall"] - plain["wall"]
        notebook += f": added {gaps[0]:+.2f} s vs {gaps[1]:+.2f} s"
        if gaps[0] > 0 and gaps[1] > 0:
            notebook += f", {versus(*gaps, words=('less', 'more'))}"
    else:
        notebook += " (MLflow not installed here)"
    print(
        f"capture cost, writer's commits included, median of {args.repeat}: {args.cells:,} small "
        f"cells, per cell: latency median {change(off['median'], on['median'])}, p99 "
        f"{change(off['p99'], on['p99'])}; wall with commits {change(off['wall'], on['wall'])}, "
        f"CPU {change(off['cpu'], on['cpu'])}; {args.rows:,}-row notebook to the end of the "
        f"session: {notebook}"
    )


if __name__ == "__main__":
    main()
