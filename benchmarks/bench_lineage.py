"""Lineage queries over a trail holding 10,000 runs, beside MLflow answering the same question.

    python benchmarks/bench_lineage.py [--pipelines 1000] [--steps 10] [--repeat 5]
                                       [--store-url URL]

The trail is built through nbtrail's public API (``nbtrail.init_trail`` in a temporary folder,
SQLite unless ``--store-url`` names another database), as users build it: ``pipelines`` chains
of ``steps`` runs; step 0 of every chain reads one shared raw file, and each step uses the
previous step's output and produces a new artifact derived from it. The same runs are written
to MLflow (benchmark environment only; SQLite store too) the way lineage is usually kept
there: a tag per run naming its input and one naming its output. Building either is set-up,
not compared. Then, timed:

* **upstream** of one chain's final artifact (``steps`` hops back to the raw file):
  ``trail.lineage(artifact, direction="upstream")`` (the graph of runs and artifacts) vs
  MLflow walking the same chain with one ``MlflowClient.search_runs`` per hop (MLflow has no
  lineage graph to ask). The MLflow client is built once, before timing, like the trail.
* **downstream** of the shared raw file: every run and artifact in the trail (nbtrail's worst
  case; no peer figure).

Each query runs once untimed (warm-up), then ``--repeat`` times, nbtrail and MLflow in
alternating order; figures are medians, measured in this run (a query during which other
processes took CPU is run again: ``_machine.py``). The target is under 1 s. The
last line is the one to quote.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _machine import contention_note, measure, versus, wait_for_quiet

import nbtrail


def build_trail(trail, raw_path: Path, pipelines: int, steps: int) -> list[str]:
    finals = []
    for p in range(pipelines):
        previous = None
        for s in range(steps):
            with trail.start_run(f"pipeline-{p}-step-{s}", kind="step", params={"p": p}) as run:
                source = run.use(raw_path) if previous is None else run.use(previous)
                previous = run.produce(
                    {"pipeline": p, "step": s}, name=f"out-{p}-{s}", derived_from=[source]
                )
        finals.append(previous.id)
    return finals


def build_mlflow(client, pipelines: int, steps: int, final_of: int) -> tuple[str, str]:
    experiment = client.create_experiment("lineage")
    final = None
    for p in range(pipelines):
        previous = "raw"
        for s in range(steps):
            output = f"out-{p}-{s}"
            run = client.create_run(
                experiment,
                run_name=f"pipeline-{p}-step-{s}",
                tags={"input": previous, "output": output},
            )
            client.set_terminated(run.info.run_id)
            previous = output
        if p == final_of:
            final = previous
    return experiment, final


def mlflow_upstream(client, experiment: str, artifact: str) -> list[str]:
    chain = []
    while artifact != "raw":
        (run,) = client.search_runs([experiment], filter_string=f"tags.output = '{artifact}'")
        chain.append(run.info.run_id)
        artifact = run.data.tags["input"]
    return chain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--store-url", help="trail database (default: SQLite in a temp folder)")
    args = parser.parse_args()
    runs = args.pipelines * args.steps
    try:
        import mlflow
    except ImportError:
        mlflow = None

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        os.environ.pop("NBTRAIL_HOME", None)  # the trail goes in the temporary folder
        if args.store_url:
            os.environ["NBTRAIL_STORE_URL"] = args.store_url
        raw = folder / "raw.csv"
        raw.write_text("a,b\n1,2\n")
        trail = nbtrail.init_trail(folder)
        start = time.perf_counter()
        finals = build_trail(trail, raw, args.pipelines, args.steps)
        build_s = time.perf_counter() - start
        print(
            f"set-up: built a trail of {runs:,} runs through the API in {build_s:.0f}s "
            f"({build_s / runs * 1000:.1f} ms per run with its 5 facts)",
            flush=True,
        )
        middle = len(finals) // 2
        target = finals[middle]

        contenders = {"nbtrail": lambda: trail.lineage(target, direction="upstream")}
        if mlflow is not None:
            os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
            client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
            start = time.perf_counter()
            experiment, final = build_mlflow(client, args.pipelines, args.steps, middle)
            print(
                f"set-up: wrote the same {runs:,} runs to MLflow in "
                f"{time.perf_counter() - start:.0f}s",
                flush=True,
            )
            contenders["MLflow"] = lambda: mlflow_upstream(client, experiment, final)
        wait_for_quiet()
        times, results = measure(contenders, args.repeat)
        up = results["nbtrail"]
        assert sum(1 for n in up.nodes.values() if n["type"] == "run") == args.steps
        if "MLflow" in results:
            assert len(results["MLflow"]) == args.steps
        t_down, down = measure(
            {"down": lambda: trail.lineage(raw, direction="downstream")}, args.repeat
        )
        t_down, down = t_down["down"], down["down"]
        assert sum(1 for n in down.nodes.values() if n["type"] == "run") == runs
        trail.close()

    t_up = times["nbtrail"]
    print(contention_note())
    print(f"nbtrail upstream of one model ({args.steps} hops): {t_up * 1000:.1f} ms")
    if "MLflow" in times:
        print(f"MLflow upstream, {args.steps} search_runs: {times['MLflow'] * 1000:.1f} ms")
    print(f"nbtrail downstream of the raw file (all {len(down.nodes):,} nodes): {t_down:.2f} s")
    up_part = f"nbtrail {t_up * 1000:.0f} ms"
    if "MLflow" in times:
        up_part += (
            f" vs MLflow (one search_runs per hop) {times['MLflow'] * 1000:.0f} ms, "
            f"{versus(t_up, times['MLflow'])}"
        )
    else:
        up_part += " (MLflow not installed here: see benchmarks/README.md)"
    verdict = "under" if max(t_up, t_down) < 1.0 else "OVER"
    print(
        f"lineage over {runs:,} runs, median of {args.repeat}: upstream of one model "
        f"({args.steps} hops) {up_part}; whole-trail downstream ({len(down.nodes):,} nodes) "
        f"nbtrail {t_down * 1000:.0f} ms (no peer); {verdict} the 1 s target"
    )


if __name__ == "__main__":
    main()
