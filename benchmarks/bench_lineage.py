"""Lineage queries over a trail holding 10,000 runs, beside MLflow answering the same question.

    python benchmarks/bench_lineage.py [--pipelines 1000] [--steps 10] [--store-url URL]

The trail is built through nbtrail's public API, as users build it: ``pipelines`` chains of
``steps`` runs; step 0 of every chain reads one shared raw file, and each step uses the
previous step's output and produces a new artifact derived from it. Then, timed:

* upstream lineage of one chain's final artifact (``steps`` hops back to the raw file);
* downstream lineage of the shared raw file: every run and artifact in the trail (the worst
  case);
* the same upstream question asked of MLflow (if installed; it runs in the benchmark
  environment only), where the usual way to keep lineage is a tag per run naming its input
  and output, and the walk is one ``search_runs`` per hop. Its store is SQLite, like
  nbtrail's default. MLflow has no lineage graph to ask directly.

Marquez users report 10-15 s for its lineage endpoint and MLflow's run search took over 15
minutes at 30,000 runs (both reported, not measured here). The target is under 1 s. The last
line is the one to quote.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from nbtrail.config import Settings
from nbtrail.store import LocalBlobStore, Trail


def build_trail(trail: Trail, raw_path: Path, pipelines: int, steps: int) -> list[str]:
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


def build_mlflow(tracking_uri: str, pipelines: int, steps: int) -> str:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient()
    experiment = client.create_experiment("lineage")
    final = None
    for p in range(pipelines):
        previous = "raw"
        for s in range(steps):
            run = client.create_run(experiment, run_name=f"pipeline-{p}-step-{s}")
            output = f"out-{p}-{s}"
            client.set_tag(run.info.run_id, "input", previous)
            client.set_tag(run.info.run_id, "output", output)
            client.set_terminated(run.info.run_id)
            previous = output
        final = previous
    return experiment, final


def mlflow_upstream(tracking_uri: str, experiment: str, artifact: str) -> list[str]:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient()
    chain = []
    while artifact != "raw":
        (run,) = client.search_runs([experiment], filter_string=f"tags.output = '{artifact}'")
        chain.append(run.info.run_id)
        artifact = run.data.tags["input"]
    return chain


def timed(fn, repeat: int = 3):
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--store-url", help="trail database (default: SQLite in a temp folder)")
    args = parser.parse_args()
    runs = args.pipelines * args.steps

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        raw = folder / "raw.csv"
        raw.write_text("a,b\n1,2\n")
        url = args.store_url or f"sqlite:///{folder / 'trail.db'}"
        trail = Trail(
            url,
            blobs=LocalBlobStore(folder / "objects"),
            home=None,
            settings=Settings(actor="bench"),
        )
        start = time.perf_counter()
        finals = build_trail(trail, raw, args.pipelines, args.steps)
        build_s = time.perf_counter() - start
        print(
            f"built a trail of {runs:,} runs through the API in {build_s:.0f}s "
            f"({build_s / runs * 1000:.1f} ms per run with its 5 facts)"
        )

        target = finals[len(finals) // 2]
        t_up, up = timed(lambda: trail.lineage(target, direction="upstream"))
        assert sum(1 for n in up.nodes.values() if n["type"] == "run") == args.steps
        t_down, down = timed(lambda: trail.lineage(raw, direction="downstream"))
        assert sum(1 for n in down.nodes.values() if n["type"] == "run") == runs
        print(f"nbtrail upstream of one model ({args.steps} hops): {t_up * 1000:.1f} ms")
        print(f"nbtrail downstream of the raw file (all {len(down.nodes):,} nodes): {t_down:.2f} s")
        trail.close()

        mlflow_part = "MLflow not installed here (see benchmarks/README.md)"
        try:
            import mlflow  # noqa: F401
        except ImportError:
            mlflow_s = None
        else:
            os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
            uri = f"sqlite:///{folder / 'mlflow.db'}"
            start = time.perf_counter()
            experiment, final = build_mlflow(uri, args.pipelines, args.steps)
            print(f"built the same {runs:,} runs in MLflow in {time.perf_counter() - start:.0f}s")
            mlflow_s, chain = timed(lambda: mlflow_upstream(uri, experiment, final))
            assert len(chain) == args.steps
            print(
                f"MLflow upstream of one model ({args.steps} search_runs): {mlflow_s * 1000:.1f} ms"
            )
            mlflow_part = f"MLflow {mlflow_s * 1000:.0f} ms = {mlflow_s / t_up:.0f}x slower"

    verdict = "under" if max(t_up, t_down) < 1.0 else "OVER"
    print(
        f"lineage over {runs:,} runs: upstream {t_up * 1000:.0f} ms, whole-trail downstream "
        f"{t_down * 1000:.0f} ms ({verdict} the 1 s target); {mlflow_part}"
    )


if __name__ == "__main__":
    main()
