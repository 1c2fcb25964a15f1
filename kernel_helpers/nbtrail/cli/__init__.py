"""The ``nbtrail`` command.

Exit codes are decided here, not by the errors: 0 ok; 1 a check, gate or run failed
(``verify`` found a problem); 2 usage or input error (unknown run, not a trail, unwritable
folder, newer schema, a damaged trail database, a bad spec or parameter), always as one line
on stderr that names the culprit, never a traceback. Input is checked before anything runs:
a command refused for bad input has recorded nothing. Commands that only read (``runs``,
``show``, ``checks``, ``lineage``, ``verify``, ``export openlineage``, ``checkout``) open the trail
read-only: they never migrate it, never mark runs aborted, never write an event.

The commands live in :mod:`._commands`; what keeps bad input to one line lives in
:mod:`._guard`.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import GateFailed, NbtrailError, UsageError
from ._budget import cmd_budget_set, cmd_budget_show
from ._commands import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    cmd_checkout,
    cmd_checks,
    cmd_demo,
    cmd_export_onnx,
    cmd_init,
    cmd_lineage,
    cmd_pipeline_run,
    cmd_predict,
    cmd_reproduce,
    cmd_run,
    cmd_runs,
    cmd_show,
    cmd_upgrade,
    cmd_verify,
)
from ._doctor import add_doctor_parser
from ._documents import add_document_parsers
from ._guard import (
    check_query_arguments,
    is_store_failure,
    shown,
    store_failure,
    undecodable_input,
)
from ._lineage import add_openlineage_parser
from ._monitor import cmd_monitor
from ._registry import add_registry_parser

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        # One line, like every other refusal; the usage is one `--help` away.
        self.exit(EXIT_USAGE, f"{self.prog}: error: {shown(message)} (see {self.prog} --help)\n")


def _exit_code(exc: NbtrailError) -> int:
    from ..pipeline.runner import RunFailed

    return EXIT_CHECK_FAILED if isinstance(exc, GateFailed | RunFailed) else EXIT_USAGE


# -- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser (exposed for documentation and tests)."""
    from ..vocabulary import CHECK_STATUSES

    parser = _Parser(
        prog="nbtrail",
        description="Lineage, checks and audited runs for notebook machine learning.",
    )
    parser.add_argument("-C", dest="chdir", metavar="DIR", help="run as if started in DIR")
    from .._version import __version__

    parser.add_argument("--version", action="version", version=f"nbtrail {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("init", help="create a trail (.nbtrail) in a folder")
    p.add_argument("path", nargs="?", default=".", help="folder (default: here)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("upgrade", help="bring the trail's schema up to date (readers never do)")
    p.set_defaults(func=cmd_upgrade)

    p = sub.add_parser("runs", help="list runs, newest first (top-level runs unless --all)")
    p.add_argument("--all", action="store_true", help="also cells and steps of other runs")
    p.add_argument("--kind", help="only runs of this kind (at any level)")
    p.add_argument("--status", help="only runs with this status")
    p.add_argument("--limit", type=_positive_int, help="at most N runs")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("show", help="show one run: params, inputs, outputs, metrics, checks")
    p.add_argument("run", help="run id or a unique prefix of it")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("checks", help="the checks' verdicts, oldest first, with their findings")
    p.add_argument("run", nargs="?", help="only checks recorded in this run and below it")
    p.add_argument("--status", choices=CHECK_STATUSES, help="only checks with this status")
    p.add_argument("--findings", action="store_true", help="print each check's findings table")
    p.add_argument("--rows", type=_positive_int, default=10, help="findings rows per check")
    p.add_argument("--limit", type=_positive_int, help="only the newest N checks")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_checks)

    p = sub.add_parser("lineage", help="where an artifact came from and what came of it")
    p.add_argument("ref", metavar="ARTIFACT|PATH", help="file path, fingerprint, name or run id")
    way = p.add_mutually_exclusive_group()
    way.add_argument("--upstream", action="store_true", help="only where it came from")
    way.add_argument("--downstream", action="store_true", help="only what came of it")
    p.add_argument("--depth", type=_positive_int, help="stop after N hops")
    p.add_argument("--format", choices=("text", "json", "dot"), default="text")
    p.set_defaults(func=cmd_lineage)

    p = sub.add_parser("verify", help="check the audit chain, every fact and every blob")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--expect-head",
        metavar="HASH",
        help="a head hash an earlier verify printed: fail unless it is still in the chain",
    )
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("checkout", help="restore an artifact's snapshot to a file")
    p.add_argument("artifact", help="fingerprint (prefix), recorded path or name")
    p.add_argument("path", help="file (or folder) to write")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(func=cmd_checkout)

    p = sub.add_parser("export", help="export the trail to other systems")
    targets = p.add_subparsers(dest="target", metavar="TARGET", parser_class=_Parser)
    targets.required = True
    add_openlineage_parser(targets)
    q = targets.add_parser("onnx", help="a fitted scikit-learn model as ONNX, parity-checked")
    q.add_argument("model", help="the fitted model (a joblib or pickle file)")
    q.add_argument("--sample", required=True, help="CSV or Parquet rows of the model's input")
    q.add_argument("-o", "--output", help="the .onnx file (default: MODEL with .onnx)")
    q.add_argument("--holdout", help="CSV or Parquet rows for the checks (default: the sample)")
    q.add_argument("--json", action="store_true", help="print the result as JSON")
    q.set_defaults(func=cmd_export_onnx)

    p = sub.add_parser("predict", help="run an exported ONNX model on a CSV or Parquet file")
    p.add_argument("onnx", help="the .onnx file")
    p.add_argument("data", help="CSV or Parquet rows with the model's input columns")
    p.add_argument("-o", "--output", help="CSV to write (default: standard output)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("run", help="execute a template notebook as an audited run")
    p.add_argument("notebook", help="the template (.ipynb, with a 'parameters' cell)")
    p.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="a parameter value (repeatable; checked against the template's schema)",
    )
    p.add_argument("-f", "--file", help="YAML file of parameter values (-p wins)")
    p.add_argument("--output", help="where to write the executed notebook")
    p.add_argument("--timeout", type=_positive_float, help="seconds one cell may run")
    p.add_argument("--describe", action="store_true", help="print the parameter schema and stop")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML: the run and its checks")
    p.add_argument("--report", metavar="FILE", help="write a self-contained HTML report")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("pipeline", help="run a pipeline of template notebooks")
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    actions.required = True
    q = actions.add_parser("run", help="run a pipeline spec (YAML)")
    q.add_argument("spec", help="the pipeline YAML")
    q.add_argument(
        "--workers",
        type=_positive_int,
        help="steps to run at once (default: 1; with --executor dask, the machine's cores)",
    )
    q.add_argument("--executor", default="local", help="where steps run: local or dask")
    q.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler tcp://HOST:PORT for --executor dask (default: the scheduler "
        "setting, else a local cluster)",
    )
    q.add_argument("--force", action="store_true", help="re-execute steps that could be reused")
    which = q.add_mutually_exclusive_group()
    which.add_argument("--only", metavar="STEP", help="run only this step")
    which.add_argument("--from", metavar="STEP", help="run this step and everything after it")
    q.add_argument("--junit", metavar="FILE", help="write JUnit XML: steps and checks")
    q.add_argument("--report", metavar="FILE", help="write a self-contained HTML report")
    q.add_argument("--json", action="store_true", help="print the result as JSON")
    q.set_defaults(func=cmd_pipeline_run)

    p = sub.add_parser("reproduce", help="re-run a template or pipeline run and compare")
    p.add_argument("run", help="run id or a unique prefix of it")
    p.add_argument("--tolerance", type=float, default=1e-9, help="relative tolerance of metrics")
    p.add_argument("--json", action="store_true", help="print the reports as JSON")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("budget", help="privacy budgets of datasets: set one, show what was spent")
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    actions.required = True
    q = actions.add_parser("set", help="set a dataset's budget (its owner may --replace it)")
    q.add_argument("data", metavar="DATA", help="the dataset: a file path or an artifact id")
    q.add_argument("--epsilon", type=float, required=True, help="total epsilon, above 0")
    q.add_argument("--delta", type=float, default=0.0, help="total delta, in [0, 1)")
    q.add_argument("--slack", type=float, default=0.0, help="composition slack (<= delta)")
    q.add_argument("--replace", action="store_true", help="replace the budget (owner only)")
    q.add_argument("--json", action="store_true", help="print the budget as JSON")
    q.set_defaults(func=cmd_budget_set)
    q = actions.add_parser("show", help="budgets with total, spent and remaining")
    q.add_argument("data", metavar="DATA", nargs="?", help="one dataset: its spends too")
    q.add_argument("--json", action="store_true", help="print as JSON")
    q.set_defaults(func=cmd_budget_show)

    p = sub.add_parser(
        "monitor", help="one monitoring run of a spec: checks, alerts, triggers (exit 1: alert)"
    )
    p.add_argument("spec", metavar="SPEC", help="the monitoring spec (YAML)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=cmd_monitor)

    add_registry_parser(sub, _Parser)
    add_document_parsers(sub)

    add_doctor_parser(sub)

    p = sub.add_parser("demo", help="run the end-to-end demo on the bundled Adult dataset")
    p.add_argument("--dir", default="nbtrail-demo", help="demo folder (default: nbtrail-demo)")
    p.set_defaults(func=cmd_demo)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.chdir:
            try:
                os.chdir(args.chdir)
            except OSError as exc:
                raise UsageError(f"-C {shown(args.chdir)}: {exc.strerror}") from None
        check_query_arguments(args)
        return args.func(args)
    except NbtrailError as exc:
        print(f"nbtrail: error: {shown(exc)}", file=sys.stderr)
        return _exit_code(exc)
    except KeyboardInterrupt:
        print("nbtrail: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `nbtrail runs | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except UnicodeEncodeError as exc:
        # The last resort for bytes that were not UTF-8 (an argument, a file name) reaching
        # text that must be UTF-8: one line, not a traceback.
        message = undecodable_input(exc)
        if message is None:
            raise
        print(f"nbtrail: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        # The last resort for a damaged trail.db (truncated, overwritten): the store did not
        # anticipate it, the command line still answers in one line naming the store.
        if is_store_failure(exc):
            print(f"nbtrail: error: {store_failure(exc)}", file=sys.stderr)
            return EXIT_USAGE
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
