"""``nbtrail demo``: the most complete thing nbtrail can do, end to end, on real data.

It makes a demo folder with its own trail (always the embedded SQLite store, whatever
``NBTRAIL_STORE_URL`` says) and runs the template pipeline (``templates/pipeline.yaml``) there:
``prepare_data`` loads the bundled Adult census data, cleans it, splits it and snapshots the
splits; ``train`` fits a scikit-learn pipeline and records its metrics; ``train_private`` trains
with differential privacy, paid from the privacy budget the demo puts on the raw Adult file.
Every step is a papermill execution with capture loaded in the kernel. Then it registers the
model (``adult-income``) and writes its model card from the trail's evidence, writes the JUnit
XML and the HTML report, verifies the trail, and prints the model's lineage and where
everything is.
Running it again reuses the steps whose inputs did not change.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .config import HOME_DIRNAME, Settings, current_actor
from .datasets import ADULT_CREDIT
from .store import init_trail

__all__ = ["run_demo", "templates_dir"]


def templates_dir() -> Path:
    """Return the bundled templates' folder: in the installed package, or the checkout's."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parents[1] / "templates"):
        if (candidate / "pipeline.yaml").is_file():
            return candidate
    raise FileNotFoundError("the nbtrail templates are not installed with this package")


DEMO_EPSILON = 10.0  # the Adult file's privacy budget: train_private spends 3 per training


def _budget_the_raw_data(raw: Path, trail, say) -> None:
    """Write the raw Adult file (prepare_data reads it) and give it a privacy budget, once."""
    from .datasets import write_adult_csv
    from .privacy import budgets, set_budget

    if not raw.exists():
        raw.parent.mkdir(parents=True, exist_ok=True)
        write_adult_csv(raw)
    found = budgets(raw, trail=trail)
    status = found[0] if found else set_budget(raw, epsilon=DEMO_EPSILON, trail=trail)
    say(f"  budget    epsilon {status.epsilon:g} on {raw.name}, {status.spent_epsilon:g} spent")


MODEL_NAME = "adult-income"


def _register_and_describe(model: Path, folder: Path, trail, say) -> Path:
    """Register the trained model (a rerun finds its version) and write its model card."""
    from .registry import register
    from .report import model_card

    version = register(model, name=MODEL_NAME, trail=trail)
    card = model_card(version.ref, trail=trail).save(folder / "model_card.md")
    say(f"  registry  {version.ref} registered; model card written from the trail's evidence")
    return card


def run_demo(folder: Path, say=print) -> int:
    """Run the demo in ``folder``; return 0 when the pipeline succeeded and the trail verifies.

    Parameters
    ----------
    folder : Path
        Created if missing. Running the demo again adds runs to the same trail.
    say : callable
        Where progress lines go.
    """
    from .pipeline.pipelines import run_pipeline
    from .report.html import write_report
    from .report.junit import write_junit

    started = time.perf_counter()
    folder = Path(folder).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    home = folder / HOME_DIRNAME
    spec = templates_dir() / "pipeline.yaml"
    say(f"nbtrail demo in {folder}")
    say(f"  data      {ADULT_CREDIT}")
    say(f"  pipeline  {spec}")
    previous = os.getcwd()
    saved = {k: os.environ.pop(k, None) for k in ("NBTRAIL_STORE_URL", "NBTRAIL_BLOB_URL")}
    os.environ["NBTRAIL_HOME"] = str(home)  # the kernels record to the demo's trail too
    os.chdir(folder)
    try:
        settings = Settings(home=home, actor=current_actor(), home_source="init")
        with init_trail(folder, settings=settings) as trail:
            _budget_the_raw_data(folder / "data" / "adult.csv", trail, say)
            result = run_pipeline(spec, trail=trail)
            for step in result.steps:
                extra = f", reusing {step.reused_from}" if step.reused_from else ""
                say(f"  {step.status:<9} {step.name} ({step.duration:.1f}s{extra})")
                if step.error:
                    say(f"            {step.error}")
            model = folder / "models" / "model.joblib"
            card = _register_and_describe(model, folder, trail, say) if result.ok else None
            junit = write_junit(trail, result.run_id, folder / "junit.xml")
            report = write_report(trail, result.run_id, folder / "report.html")
            verified = trail.verify()
            say(f"  verify    {verified.summary()}")
            if model.is_file():
                say("")
                say("lineage of models/model.joblib:")
                say(trail.lineage(model, direction="upstream", depth=3).to_text())
            say("")
            say("where everything is:")
            say(f"  report (open in a browser)  {report}")
            say(f"  JUnit XML                   {junit}")
            say(f"  trail database              {home / 'trail.db'}")
            say(f"  snapshots and notebooks     {home / 'objects'}, {home / 'runs'}")
            say(f"  data and model              {folder / 'data'}, {model}")
            if card is not None:
                say(f"  model card                  {card}")
            say("")
            say(f"try:  cd {folder}")
            say("      nbtrail runs")
            say(f"      nbtrail show {result.run_id}")
            say("      nbtrail lineage models/model.joblib --format dot")
            say(f"      nbtrail reproduce {result.run_id}")
            say(f"      nbtrail registry show {MODEL_NAME}")
            say(f"      nbtrail card {MODEL_NAME} --output card.html")
            say("      nbtrail verify")
    finally:
        os.chdir(previous)
        for key, value in saved.items():
            if value is not None:
                os.environ[key] = value
    say(f"done in {time.perf_counter() - started:.1f}s")
    return 0 if result.ok and verified.ok else 1
