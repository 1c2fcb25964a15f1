"""The ``nbtrail`` command.

Exit codes are decided here, not by the errors: 0 ok; 1 a check, gate or run failed
(``verify`` found a problem); 2 usage or input error (unknown run, not a trail, unwritable
folder, newer schema), always as one line on stderr. Commands that only read (``runs``,
``show``, ``checks``, ``lineage``, ``verify``, ``export``, ``checkout``) open the trail
read-only: they never migrate it, never mark runs aborted, never write an event.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import GateFailed, NbtrailError, UsageError

__all__ = ["main"]

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        # One line, like every other refusal; the usage is one `--help` away.
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _exit_code(exc: NbtrailError) -> int:
    from .pipeline.runner import RunFailed

    return EXIT_CHECK_FAILED if isinstance(exc, GateFailed | RunFailed) else EXIT_USAGE


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _print_json(data) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _read():
    """The trail, opened to read: nothing is migrated, recovered or written."""
    from .store import open_trail

    return open_trail(readonly=True)


# -- commands ------------------------------------------------------------------------------


def cmd_init(args) -> int:
    from .store import init_trail

    with init_trail(args.path) as trail:
        where = trail.home
        print(f"trail ready in {where} ({trail.url})")
    return EXIT_OK


def cmd_runs(args) -> int:
    with _read() as trail:
        top_level = not (args.all or args.kind)
        runs = trail.runs(kind=args.kind, status=args.status, top_level=top_level, limit=args.limit)
    if args.json:
        _print_json([r.to_dict() for r in runs])
        return EXIT_OK
    if not runs:
        print("no runs recorded yet")
        return EXIT_OK
    rows = [
        [r.id, _when(r.started_at), r.status, r.kind, r.name, _duration(r.duration), r.actor]
        for r in runs
    ]
    print(_table(rows, ["RUN", "STARTED (UTC)", "STATUS", "KIND", "NAME", "TIME", "BY"]))
    return EXIT_OK


def cmd_upgrade(args) -> int:
    from .store import open_trail

    with open_trail() as trail:  # a writer brings the schema up to date
        print(f"trail {trail.url} is at the current schema")
    return EXIT_OK


def cmd_show(args) -> int:
    with _read() as trail:
        details = trail.run_details(args.run, tree=True)
        display = trail.display_path
    if args.json:
        _print_json(details.to_dict())
        return EXIT_OK
    run = details.run
    print(f"run      {run.id}")
    print(f"name     {run.name}  ({run.kind})")
    print(f"status   {run.status}" + (f": {run.error}" if run.error else ""))
    print(f"by       {run.actor}")
    print(f"started  {_when(run.started_at)} UTC   took {_duration(run.duration)}")
    if run.parent_id:
        print(f"parent   {run.parent_id}")
    for key, value in sorted(run.attrs.items()):
        print(f"{key:<8} {value}")
    if run.params:
        print("params")
        for key, value in sorted(run.params.items()):
            print(f"  {key} = {json.dumps(value)}")
    for title, usages in (("used", details.used), ("produced", details.produced)):
        own = [u for u in usages if u.run_id == run.id]
        if own:
            print(title)
            for u in own:
                where = display(u.path) if u.path else (u.name or u.artifact.name)
                snap = "  [snapshot]" if u.artifact.snapshot else ""
                print(f"  {u.artifact.short}  {u.artifact.kind:<9} {where}{snap}")
    if details.metrics:
        print("metrics")
        for m in details.metrics:
            step = f" (step {m.step})" if m.step is not None else ""
            print(f"  {m.key} = {m.value:g}{step}  [{details.where(m.run_id)}]")
    if details.checks:
        print("checks")
        for c in details.checks:
            said = f": {c.summary}" if c.summary else ""
            print(f"  {c.status.upper():<5} {c.name}{said}  [{details.where(c.run_id)}]")
    if details.children:
        print("steps")
        for child in details.children:
            print(f"  {child.id}  {child.status:<9} {child.name}")
    return EXIT_OK


def cmd_checks(args) -> int:
    with _read() as trail:
        if args.run:
            record = trail.get_run(args.run)
            ids = [record.id] + [r.id for r in trail.descendants(record.id)]
            found = trail.checks(ids, status=args.status)
        else:
            found = trail.checks(status=args.status)
        if args.limit:
            found = found[-args.limit :]
        from .checks import CheckResult

        results = [CheckResult.from_record(trail, c) for c in found] if args.findings else []
    if args.json:
        if args.findings:
            pairs = zip(results, found, strict=True)
            _print_json([r.to_dict() | {"run_id": c.run_id} for r, c in pairs])
        else:
            _print_json([c.to_dict() for c in found])
        return EXIT_OK
    if not found:
        print("no checks recorded" + (f" with status {args.status}" if args.status else ""))
        return EXIT_OK
    for index, check in enumerate(found):
        subject = check.subjects[0].artifact_id[:12] if check.subjects else "-"
        print(
            f"{check.status.upper():<5}  {check.name:<16} run {check.run_id[:8]}  "
            f"on {subject}  {check.summary}"
        )
        if args.findings and len(results[index].details):
            shown = results[index].details.head(args.rows).to_string(index=False, max_colwidth=50)
            print("\n".join("        " + line for line in shown.splitlines()))
            if len(results[index].details) > args.rows:
                print(f"        ... {len(results[index].details) - args.rows} more findings")
    return EXIT_OK


def cmd_lineage(args) -> int:
    direction = "upstream" if args.upstream else "downstream" if args.downstream else "both"
    with _read() as trail:
        graph = trail.lineage(args.ref, direction=direction, depth=args.depth)
    if args.format == "json":
        print(graph.to_json())
    elif args.format == "dot":
        print(graph.to_dot())
    else:
        print(graph.to_text())
    return EXIT_OK


def cmd_verify(args) -> int:
    with _read() as trail:
        report = trail.verify(expect_head=args.expect_head)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(report.summary())
        for problem in report.problems[1:]:
            print(f"  also: {problem}")
        for note in report.notes:
            print(f"  note: {note}")
    return EXIT_OK if report.ok else EXIT_CHECK_FAILED


def cmd_checkout(args) -> int:
    with _read() as trail:
        target = trail.checkout(args.artifact, args.path, overwrite=args.force)
    print(f"wrote {target}")
    return EXIT_OK


def cmd_export_openlineage(args) -> int:
    from .export.openlineage import run_events, to_json_lines

    with _read() as trail:
        text = to_json_lines(run_events(trail, args.run, namespace=args.namespace))
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        target = Path(args.output)
        try:
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{target}: cannot write ({exc.strerror})") from None
        print(f"wrote {len(text.splitlines())} OpenLineage events to {target}")
    return EXIT_OK


def _parameters(args) -> dict:
    values: dict = {}
    if args.file:
        import yaml

        path = Path(args.file)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"{path}: cannot be read ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            raise UsageError(f"{path}: not valid YAML ({exc})") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict) or not all(isinstance(k, str) for k in loaded):
            raise UsageError(f"{path}: parameters must be a mapping of names to values")
        values.update(loaded)
    for name, value in args.parameter or []:
        values[name] = value
    return values


def _write_reports(trail, run_id: str, args) -> None:
    # With --json, standard output is the JSON document alone.
    out = sys.stderr if getattr(args, "json", False) else sys.stdout
    if getattr(args, "junit", None):
        from .report.junit import write_junit

        print(f"JUnit XML: {write_junit(trail, run_id, args.junit)}", file=out)
    if getattr(args, "report", None):
        from .report.html import write_report

        print(f"report: {write_report(trail, run_id, args.report)}", file=out)


def cmd_run(args) -> int:
    from .pipeline.parameters import describe, read_schema
    from .pipeline.runner import check_template, run_template

    template = check_template(args.notebook)
    if args.describe:
        print(describe(read_schema(template), str(template)))
        return EXIT_OK
    values = _parameters(args)
    from .store import open_or_create_trail

    with open_or_create_trail() as trail:
        result = run_template(
            template, values, trail=trail, output=args.output, timeout=args.timeout
        )
        _write_reports(trail, result.run_id, args)
    if args.json:
        _print_json(result.to_dict())
    if result.ok:
        if not args.json:
            print(f"run {result.run_id} succeeded in {_duration(result.duration)}")
            print(f"executed notebook: {result.notebook}")
        return EXIT_OK
    if result.details:
        print(result.details, file=sys.stderr)
    print(f"nbtrail: run {result.run_id} failed: {result.error}", file=sys.stderr)
    print(f"nbtrail: executed notebook: {result.notebook}", file=sys.stderr)
    return EXIT_CHECK_FAILED


def cmd_pipeline_run(args) -> int:
    from .pipeline.pipelines import run_pipeline
    from .store import open_or_create_trail

    with open_or_create_trail() as trail:
        result = run_pipeline(
            args.spec,
            trail=trail,
            workers=args.workers,
            force=args.force,
            only=args.only,
            start_from=getattr(args, "from"),
        )
        _write_reports(trail, result.run_id, args)
    if args.json:
        _print_json(result.to_dict())
    else:
        for step in result.steps:
            extra = f" (reuses {step.reused_from})" if step.reused_from else ""
            timing = f" in {_duration(step.duration)}" if step.status == "succeeded" else ""
            print(f"  {step.status:<9} {step.name}{timing}{extra}")
            if step.not_reused and step.status in ("succeeded", "failed"):
                print(f"            ran because {step.not_reused}")
    if result.ok:
        print(f"pipeline {result.name} succeeded: run {result.run_id}")
        return EXIT_OK
    failed = next((s for s in result.steps if s.status == "failed"), None)
    if failed is not None and failed.details:
        print(failed.details, file=sys.stderr)
    print(f"nbtrail: pipeline {result.name} failed (run {result.run_id})", file=sys.stderr)
    if failed is not None:
        print(f"nbtrail: step {failed.name!r}: {failed.error}", file=sys.stderr)
    return EXIT_CHECK_FAILED


def cmd_reproduce(args) -> int:
    from .pipeline.reproduce import reproduce
    from .store import open_trail  # a writer: reproducing records the re-runs

    with open_trail() as trail:
        reports = reproduce(trail, args.run, tolerance=args.tolerance)
    if args.json:
        _print_json([r.to_dict() for r in reports])
    else:
        print("\n".join(r.text() for r in reports))
    return EXIT_OK if all(r.reproduced for r in reports) else EXIT_CHECK_FAILED


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(Path(args.dir))


# -- parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser (exposed for documentation and tests)."""
    from .vocabulary import CHECK_STATUSES

    parser = _Parser(
        prog="nbtrail",
        description="Lineage, checks and audited runs for notebook machine learning.",
    )
    parser.add_argument("-C", dest="chdir", metavar="DIR", help="run as if started in DIR")
    from ._version import __version__

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
    q = targets.add_parser("openlineage", help="a run as OpenLineage RunEvents (JSON Lines)")
    q.add_argument("run", help="run id or a unique prefix of it")
    q.add_argument("-o", "--output", help="file to write (default: standard output)")
    q.add_argument("--namespace", default="nbtrail", help="OpenLineage job namespace")
    q.set_defaults(func=cmd_export_openlineage)

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
    q.add_argument("--workers", type=_positive_int, default=1, help="steps to run at once")
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
                raise UsageError(f"-C {args.chdir}: {exc.strerror}") from None
        return args.func(args)
    except NbtrailError as exc:
        print(f"nbtrail: error: {exc}", file=sys.stderr)
        return _exit_code(exc)
    except KeyboardInterrupt:
        print("nbtrail: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `nbtrail runs | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
