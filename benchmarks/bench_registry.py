"""Registry: a promotion decision and a model card on a trail of 10,000 runs and 500 versions.

    python benchmarks/bench_registry.py [--versions 500] [--runs 10000] [--repeat N]
                                        [--store-url URL] [--no-postgres] [--profile]

Set-up (untimed, its duration printed): a trail in a temporary folder, on SQLite and on
PostgreSQL (started here with tests/helpers/postgres.sh unless ``--store-url`` names a server;
a fresh database is created on it either way, and dropped after), whose pyproject.toml holds
the policy ``champion`` (schema and fairness checks at most 30 days old, one signed approval
by the role ``risk``), the role and carol's public key. ``--versions`` training runs (bob:
a 200-row CSV read, a frame derived from it, a fitted LogisticRegression, its joblib file; a
schema check on the frame, a fairness check on the model, an accuracy metric), each file
registered as the next version of ``income``; filler up to ``--runs`` runs in all (batches of
runs, each producing an artifact judged by a check; a metric on every tenth), so that queries
face a realistic table size. Carol approves the two newest versions.

Timed, as a user calls them (each opens the project's trail itself, as the CLI does), one
untimed warm-up, then the median of ``--repeat`` calls (default 7; 5 for the card):

1. **the promotion decision** for the newest version and ``champion``: open the trail, load
   the settings and policies (known check names queried), ``get_model`` (replay the registry
   history), ``evaluate`` (lineage walk upstream of the file, the evidence query for checks
   that judged any of it, approvals' Ed25519 signatures verified, authors from the lineage):
   everything ``promote`` does except the write;
2. **``promote``** to ``champion``, alternating between the two approved versions so that each
   call evaluates and writes an alias move (the registry write under the writer lock);
3. **``model_card("income@N").markdown()``**: lineage, evidence, metrics, budgets, history,
   approvals verified, Markdown rendered;
4. context: ``open_trail`` alone (part of 1-3), ``get_model`` and ``list_models`` on an open
   trail.

No peer exists (MLflow's registry evaluates no policy and makes no card): the figures are set
against the issue's goals (decision under 1 s, card under 3 s). ``--profile`` prints where a
decision and a card spend their time (cProfile, cumulative). The last line is the one to quote.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import sqlalchemy as sa
from _machine import contention_note, measure, wait_for_quiet
from sklearn.linear_model import LogisticRegression

from nbtrail import registry
from nbtrail.config import load_settings
from nbtrail.report import model_card
from nbtrail.store import NewArtifact, NewCheck, NewEdge, NewMetric, NewRun, init_trail, open_trail

ROOT = Path(__file__).resolve().parents[1]
PG_SCRIPT = ROOT / "tests" / "helpers" / "postgres.sh"
FILLER_BATCH = 500
FILLER_CHECKS = ("schema", "data_quality", "fairness", "drift")


def write_config(folder: Path, carol_key: str) -> None:
    (folder / "pyproject.toml").write_text(
        "[tool.nbtrail.policy.champion]\n"
        'require_checks = ["schema", "fairness"]\n'
        "max_age_days = 30\n"
        "approvals = 1\n"
        'approver_roles = ["risk"]\n\n'
        "[tool.nbtrail.roles]\n"
        'risk = ["carol"]\n\n'
        "[tool.nbtrail.approvers]\n"
        f'carol = "{carol_key}"\n'
    )


def add_filler(trail, count: int) -> None:
    """``count`` ended runs, each producing an artifact that a check judged (one batch per 500)."""
    for start in range(0, count, FILLER_BATCH):
        batch = trail.batch()
        for i in range(start, min(start + FILLER_BATCH, count)):
            run = NewRun(f"filler {i}", kind="cell", status="succeeded")
            digest = uuid.uuid5(uuid.NAMESPACE_OID, f"filler {i}").hex
            batch.add(
                run,
                NewArtifact(digest, "dataframe", f"table {i}", size=1000),
                NewEdge("produced", run.id, digest, name=f"table {i}"),
                NewCheck(
                    run.id,
                    FILLER_CHECKS[i % len(FILLER_CHECKS)],
                    ("pass", "warn", "fail")[i % 3],
                    summary="filler",
                    subjects=[("subject", digest)],
                ),
            )
            if i % 10 == 0:
                batch.add(NewMetric(run.id, "accuracy", 0.5 + (i % 100) / 250))
        batch.commit()


def train_and_register(trail, folder: Path, seed: int, rows: int) -> None:
    """One training run as a captured notebook records it, its checks, and ``register``."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x": rng.normal(size=rows), "y": rng.integers(0, 2, rows)})
    data, path = folder / f"m{seed}.csv", folder / f"m{seed}.joblib"
    frame.to_csv(data, index=False)
    with trail.start_run(f"train m{seed}", kind="session") as run:
        read = run.use(data, name="data")
        table = run.produce(frame, name="frame", derived_from=[read])
        model = LogisticRegression().fit(frame[["x"]], frame["y"])
        fitted = run.produce(model, name="model", derived_from=[table])
        joblib.dump(model, path)
        run.produce(path, name="model file", derived_from=[fitted])
        run.log_metric("accuracy", float(model.score(frame[["x"]], frame["y"])))
        run.record_check("schema", "pass", artifact=table, summary="every rule held", kind="schema")
        run.record_check(
            "fairness",
            "warn" if seed % 2 else "pass",
            subjects={"model": fitted},
            summary="selection rates compared",
            metrics={"demographic_parity_difference": 0.05},
            kind="fairness",
        )
    registry.register(path, name="income", trail=trail)


@contextlib.contextmanager
def as_user(user: str):
    before = os.environ.get("NBTRAIL_USER")
    os.environ["NBTRAIL_USER"] = user
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("NBTRAIL_USER", None)
        else:
            os.environ["NBTRAIL_USER"] = before


def build(folder: Path, versions: int, runs: int) -> None:
    """The project in ``folder`` (the working directory): config, trail, versions, approvals."""
    key = folder / "carol.key"
    write_config(folder, registry.generate_key(key))
    with as_user("bob"):
        trail = init_trail(folder)
        try:
            add_filler(trail, max(0, runs - versions))
            for seed in range(versions):
                train_and_register(trail, folder, seed, rows=200)
        finally:
            trail.close()
    with as_user("carol"):
        for number in {versions, max(1, versions - 1)}:
            registry.approve("income", number, key=key, comment="reviewed the card")


def decision(version: int):
    """Everything ``promote`` does except the write (see the module docstring)."""
    settings = load_settings()
    with open_trail() as trail:
        policies = registry.load_policies(settings, known_checks=registry.known_checks(trail))
        model = registry.get_model("income", trail=trail)
        return registry.evaluate(
            trail, model, model.version(version), policies["champion"], settings
        )


def profile(label: str, fn) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
    print(f"--- profile: {label} ---\n" + out.getvalue(), flush=True)


def bench_backend(label: str, folder: Path, args) -> dict:
    """Build the project in ``folder``, then time the registry calls on it."""
    os.chdir(folder)
    start = time.perf_counter()
    build(folder, args.versions, args.runs)
    print(
        f"{label} set-up: {max(args.runs, args.versions):,} runs, {args.versions} versions "
        f"registered, 2 approved, in {time.perf_counter() - start:.0f} s",
        flush=True,
    )
    newest, other = args.versions, max(1, args.versions - 1)
    flip = {"n": 0}

    def promote():
        flip["n"] += 1
        target = newest if flip["n"] % 2 else other
        return registry.promote("income", target, to="champion", comment="bench")

    def card():
        return model_card(f"income@{newest}").markdown()

    with as_user("bob"):
        report = decision(newest)
        assert report.satisfied, report.missing
        if args.profile:
            profile(f"{label} decision", lambda: decision(newest))
            profile(f"{label} card", card)
        wait_for_quiet()
        figures, _ = measure({"decision": lambda: decision(newest)}, args.repeat or 7)
        figures |= measure({"promote": promote}, args.repeat or 7)[0]
        card_time, cards = measure({"card": card}, args.repeat or 5)
        assert "signature verifies" in cards["card"] and "schema" in cards["card"]
        figures |= card_time
        figures |= measure({"open_trail": lambda: open_trail().close()}, args.repeat or 7)[0]
        with open_trail() as trail:
            figures |= measure(
                {
                    "get_model": lambda: registry.get_model("income", trail=trail),
                    "list_models": lambda: registry.list_models(trail=trail),
                },
                args.repeat or 7,
            )[0]
        with open_trail() as trail:
            model = registry.get_model("income", trail=trail)
            assert model.aliases["champion"] in (newest, other)
            moves = (model.history["action"] == "alias").sum()
    print(
        f"{label}: decision {figures['decision'] * 1e3:.0f} ms, promote (write included) "
        f"{figures['promote'] * 1e3:.0f} ms, card {figures['card']:.2f} s, get_model "
        f"{figures['get_model'] * 1e3:.0f} ms, list_models {figures['list_models'] * 1e3:.0f} ms, "
        f"open_trail alone {figures['open_trail'] * 1e3:.0f} ms ({moves} alias moves written; "
        f"card {len(cards['card']) / 1024:.0f} KiB of Markdown)",
        flush=True,
    )
    return figures


@contextlib.contextmanager
def fresh_database(server_url: str):
    """A new, empty database on the server; dropped afterwards. Yields its URL."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"nbtrail_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                ),
                {"n": name},
            )
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def under(figure: float, goal: float) -> str:
    if figure >= goal:
        return f"MISSED: {figure / goal:.1f}x over"
    ratio = goal / figure
    return f"{ratio:.0f}x under" if ratio >= 10 else f"{ratio:.1f}x under"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=500)
    parser.add_argument("--runs", type=int, default=10_000, help="runs in all, filler included")
    parser.add_argument("--repeat", type=int, help="timed calls (default 7; 5 for the card)")
    parser.add_argument("--store-url", help="a PostgreSQL server URL (default: start one here)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile a decision and a card")
    args = parser.parse_args()
    if args.versions < 2:
        parser.error("--versions must be at least 2 (promote alternates between two versions)")
    os.environ.pop("NBTRAIL_HOME", None)
    os.environ.pop("NBTRAIL_STORE_URL", None)
    here = os.getcwd()
    figures: dict[str, dict] = {}
    folder = Path(tempfile.mkdtemp(prefix="nbtrail-bench-registry-"))
    pg_folder = None
    try:
        (folder / "s").mkdir()
        figures["SQLite"] = bench_backend("SQLite", folder / "s", args)
        server = args.store_url
        if server is None and not args.no_postgres:
            pg_folder = tempfile.mkdtemp(prefix="nbtrail-pg-")
            started = subprocess.run(
                ["bash", str(PG_SCRIPT), "start", pg_folder], capture_output=True, text=True
            )
            if started.returncode == 0:
                server = started.stdout.strip().rsplit("=", 1)[1]
            else:
                print(f"PostgreSQL not started: {started.stderr.strip()[-200:]}")
        if server and not args.no_postgres:
            with fresh_database(server) as url:
                os.environ["NBTRAIL_STORE_URL"] = url
                try:
                    (folder / "p").mkdir()
                    figures["PostgreSQL"] = bench_backend("PostgreSQL", folder / "p", args)
                finally:
                    os.environ.pop("NBTRAIL_STORE_URL", None)
                    os.chdir(here)
    finally:
        os.chdir(here)
        if pg_folder:
            subprocess.run(["bash", str(PG_SCRIPT), "stop", pg_folder], capture_output=True)
            shutil.rmtree(pg_folder, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
    print(contention_note())
    worst = {key: max(f[key] for f in figures.values()) for key in ("decision", "card")}
    promote = ", ".join(f"{k} {fmt_ms(f['promote'])}" for k, f in figures.items())
    print(
        f"Registry, {max(args.runs, args.versions):,} runs and {args.versions} versions "
        f"(median of {args.repeat or 7}/{args.repeat or 5}, trail opened in each call): "
        "promotion decision (settings, policies, registry replay, upstream lineage, evidence "
        "query, approval signatures verified) "
        + ", ".join(f"{k} {fmt_ms(f['decision'])}" for k, f in figures.items())
        + f" (goal 1 s: {under(worst['decision'], 1.0)}); card with Markdown "
        + ", ".join(f"{k} {fmt_ms(f['card'])}" for k, f in figures.items())
        + f" (goal 3 s: {under(worst['card'], 3.0)}); promote with its write, alternating "
        f"two approved versions: {promote}"
    )


if __name__ == "__main__":
    sys.exit(main())
