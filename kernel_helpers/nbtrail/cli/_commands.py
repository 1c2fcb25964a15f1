r"""The commands behind ``nbtrail``: each takes parsed arguments and returns an exit code.

Every name, path and message a command prints about the trail's contents goes through
:func:`._guard.shown`, so a run called ``"a\x1b[31m\nfake"`` prints as one visible line.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

from ..errors import UsageError
from ._guard import check_outputs, check_text_arguments, shown

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE = 0, 1, 2
# The files each command writes: checked before anything runs or is recorded.
RUN_OUTPUTS = ("--output", "--junit", "--report")
PIPELINE_OUTPUTS = ("--junit", "--report")


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
    rows = [[shown(cell) for cell in row] for row in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _print_json(data) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _read():
    """The trail, opened to read: nothing is migrated, recovered or written."""
    from ..store import open_trail

    return open_trail(readonly=True)


# -- commands ------------------------------------------------------------------------------


def cmd_init(args) -> int:
    from ..store import init_trail

    with init_trail(args.path) as trail:
        where = trail.home
        print(f"trail ready in {shown(where)} ({shown(trail.url)})")
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
    from ..store import open_trail

    with open_trail() as trail:  # a writer brings the schema up to date
        print(f"trail {shown(trail.url)} is at the current schema")
    return EXIT_OK


def cmd_show(args) -> int:
    with _read() as trail:
        details = trail.run_details(args.run, tree=True)
        display = trail.display_path
    if args.json:
        _print_json(details.to_dict())
        return EXIT_OK
    run = details.run
    print(f"run      {shown(run.id)}")
    print(f"name     {shown(run.name)}  ({shown(run.kind)})")
    print(f"status   {shown(run.status)}" + (f": {shown(run.error)}" if run.error else ""))
    print(f"by       {shown(run.actor)}")
    print(f"started  {_when(run.started_at)} UTC   took {_duration(run.duration)}")
    if run.parent_id:
        print(f"parent   {shown(run.parent_id)}")
    for key, value in sorted(run.attrs.items()):
        print(f"{shown(key):<8} {shown(value)}")
    if run.params:
        print("params")
        for key, value in sorted(run.params.items()):
            print(f"  {shown(key)} = {shown(json.dumps(value, ensure_ascii=False))}")
    for title, usages in (("used", details.used), ("produced", details.produced)):
        own = [u for u in usages if u.run_id == run.id]
        if own:
            print(title)
            for u in own:
                where = display(u.path) if u.path else (u.name or u.artifact.name)
                snap = "  [snapshot]" if u.artifact.snapshot else ""
                kind = shown(u.artifact.kind)
                print(f"  {u.artifact.short}  {kind:<9} {shown(where)}{snap}")
    if details.metrics:
        print("metrics")
        for m in details.metrics:
            step = f" (step {m.step})" if m.step is not None else ""
            print(f"  {shown(m.key)} = {m.value:g}{step}  [{shown(details.where(m.run_id))}]")
    if details.checks:
        print("checks")
        for c in details.checks:
            said = f": {shown(c.summary)}" if c.summary else ""
            where = shown(details.where(c.run_id))
            print(f"  {shown(c.status.upper()):<5} {shown(c.name)}{said}  [{where}]")
    if details.children:
        print("steps")
        for child in details.children:
            print(f"  {child.id}  {shown(child.status):<9} {shown(child.name)}")
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
        from ..checks import CheckResult

        results = [CheckResult.from_record(trail, c) for c in found] if args.findings else []
    if args.json:
        if args.findings:
            pairs = zip(results, found, strict=True)
            _print_json([r.to_dict() | {"run_id": c.run_id} for r, c in pairs])
        else:
            _print_json([c.to_dict() for c in found])
        return EXIT_OK
    if not found:
        print("no checks recorded" + (f" with status {shown(args.status)}" if args.status else ""))
        return EXIT_OK
    for index, check in enumerate(found):
        subject = check.subjects[0].artifact_id[:12] if check.subjects else "-"
        print(
            f"{shown(check.status.upper()):<5}  {shown(check.name):<16} run {check.run_id[:8]}  "
            f"on {shown(subject)}  {shown(check.summary)}"
        )
        if args.findings and len(results[index].details):
            table = results[index].details.head(args.rows).to_string(index=False, max_colwidth=50)
            print("\n".join("        " + shown(line) for line in table.splitlines()))
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
        print(_printable_graph(graph).to_text())
    return EXIT_OK


def _printable_graph(graph):
    """The same graph with every name, kind and status fit for one terminal line."""
    nodes = {
        key: {k: shown(v) if isinstance(v, str) else v for k, v in node.items()}
        for key, node in graph.nodes.items()
    }
    return dataclasses.replace(graph, nodes=nodes)


def cmd_verify(args) -> int:
    from ..registry import verify_approvals

    with _read() as trail:
        report = trail.verify(expect_head=args.expect_head)
        # Approvals carry their approvers' own signatures, checked against the configured keys.
        approvals = verify_approvals(trail) if report.ok else []
    if args.json:
        _print_json(report.to_dict() | {"approval_problems": approvals})
    else:
        print(shown(report.summary()))
        for problem in report.problems[1:]:
            print(f"  also: {shown(problem)}")
        for problem in approvals:
            print(f"  approval: {shown(problem)}")
        for note in report.notes:
            print(f"  note: {shown(note)}")
    return EXIT_OK if report.ok and not approvals else EXIT_CHECK_FAILED


def cmd_checkout(args) -> int:
    with _read() as trail:
        target = trail.checkout(args.artifact, args.path, overwrite=args.force)
    print(f"wrote {shown(target)}")
    return EXIT_OK


def cmd_export_openlineage(args) -> int:
    from ..export import run_events, to_json_lines

    check_outputs(args, ("--output",))
    with _read() as trail:
        text = to_json_lines(run_events(trail, args.run, namespace=args.namespace))
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        target = Path(args.output)
        try:
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{shown(target)}: cannot write ({exc.strerror})") from None
        print(f"wrote {len(text.splitlines())} OpenLineage events to {shown(target)}")
    return EXIT_OK


def _open_trail_if_any():
    """The trail that applies here, to write, or None: export never creates one."""
    from ..errors import TrailNotFound
    from ..store import open_trail

    try:
        return open_trail()
    except TrailNotFound:
        return None


def cmd_export_onnx(args) -> int:
    from .. import recording
    from ..export import convert, load_model, onnx, read_frame

    model = load_model(args.model)
    if args.output is None:
        args.output = str(Path(args.model).with_suffix(".onnx"))
    check_outputs(args, ("--output",))
    sample = read_frame(args.sample)
    holdout = read_frame(args.holdout) if args.holdout else None
    converted = convert(model, sample)  # refused here, before a run is started or a file written
    trail = _open_trail_if_any()
    if trail is None:
        result = onnx(model, sample, args.output, holdout=holdout, converted=converted)
    else:
        with trail, trail.start_run(f"export onnx {Path(args.model).name}") as run:
            recording.activate(run)
            try:
                result = onnx(model, sample, args.output, holdout=holdout, converted=converted)
            finally:
                recording.deactivate(run)
    failed = [c for c in result.checks if c.status in ("fail", "error")]
    if args.json:
        _print_json(
            {
                "path": result.path,
                "size_bytes": result.size_bytes,
                "signature": result.signature,
                "status": result.status,
                "checks": [
                    {"name": c.name, "status": c.status, "summary": c.summary, "metrics": c.metrics}
                    for c in result.checks
                ],
            }
        )
    else:
        print(f"wrote {shown(result.path)} ({result.size_bytes:,} bytes)")
        for c in result.checks:
            print(f"{c.name}: {c.status}: {shown(c.summary)}")
    for c in failed:
        print(f"nbtrail: gate {c.name} failed: {shown(c.summary)}", file=sys.stderr)
    return EXIT_CHECK_FAILED if failed else EXIT_OK


def cmd_predict(args) -> int:
    import pandas as pd

    from ..export import OnnxModel, read_frame

    check_outputs(args, ("--output",))
    model = OnnxModel(args.onnx)
    frame = read_frame(args.data)
    labels = model.predict(frame)
    out = {"prediction": labels}
    if model.classes_ is not None and model.has_proba:
        proba = model.predict_proba(frame)
        for k, label in enumerate(model.classes_):
            out[f"proba_{label}"] = proba[:, k]
    table = pd.DataFrame(out, index=frame.index)
    if args.output in (None, "-"):
        table.to_csv(sys.stdout, index=False)
    else:
        try:
            table.to_csv(args.output, index=False)
        except OSError as exc:
            raise UsageError(f"{shown(args.output)}: cannot write ({exc.strerror})") from None
        print(f"wrote {len(table):,} predictions to {shown(args.output)}")
    return EXIT_OK


def _parameters(args) -> dict:
    values: dict = {}
    check_text_arguments(args.parameter, "-p")
    if args.file:
        from ..safe_yaml import load_yaml_file

        path = Path(args.file)
        loaded = load_yaml_file(path, what="parameter file")
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict) or not all(isinstance(k, str) for k in loaded):
            raise UsageError(f"{shown(path)}: parameters must be a mapping of names to values")
        values.update(loaded)
    for name, value in args.parameter or []:
        values[name] = value
    return values


def _write_reports(trail, run_id: str, args) -> None:
    # With --json, standard output is the JSON document alone.
    out = sys.stderr if getattr(args, "json", False) else sys.stdout
    if getattr(args, "junit", None):
        from ..report.junit import write_junit

        print(f"JUnit XML: {shown(write_junit(trail, run_id, args.junit))}", file=out)
    if getattr(args, "report", None):
        from ..report.html import write_report

        print(f"report: {shown(write_report(trail, run_id, args.report))}", file=out)


def cmd_run(args) -> int:
    from ..pipeline.parameters import describe, read_schema
    from ..pipeline.runner import check_template, run_template

    template = check_template(args.notebook)
    if args.describe:
        print(describe(read_schema(template), shown(template)))
        return EXIT_OK
    # Everything the run needs is checked before it is recorded: the outputs, then the values.
    check_outputs(args, RUN_OUTPUTS)
    values = _parameters(args)  # checked against the schema before the run is recorded
    from ..store import open_or_create_trail

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
            print(f"executed notebook: {shown(result.notebook)}")
        return EXIT_OK
    if result.details:
        print(result.details, file=sys.stderr)
    print(f"nbtrail: run {result.run_id} failed: {shown(result.error)}", file=sys.stderr)
    print(f"nbtrail: executed notebook: {shown(result.notebook)}", file=sys.stderr)
    return EXIT_CHECK_FAILED


def cmd_pipeline_run(args) -> int:
    from ..pipeline.pipelines import run_pipeline
    from ..store import open_or_create_trail

    check_outputs(args, PIPELINE_OUTPUTS)
    if args.scheduler and args.executor != "dask":
        raise UsageError("--scheduler is for --executor dask")
    workers = args.workers
    if workers is None:  # a local cluster sized to the machine; one step at a time otherwise
        workers = (os.cpu_count() or 1) if args.executor == "dask" else 1
    with open_or_create_trail() as trail:
        result = run_pipeline(
            args.spec,
            trail=trail,
            workers=workers,
            force=args.force,
            only=args.only,
            start_from=getattr(args, "from"),
            executor=args.executor,
            executor_options={"scheduler": args.scheduler} if args.scheduler else None,
        )
        _write_reports(trail, result.run_id, args)
    if args.json:
        _print_json(result.to_dict())
    else:
        for step in result.steps:
            extra = f" (reuses {step.reused_from})" if step.reused_from else ""
            timing = f" in {_duration(step.duration)}" if step.status == "succeeded" else ""
            print(f"  {shown(step.status):<9} {shown(step.name)}{timing}{extra}")
            if step.not_reused and step.status in ("succeeded", "failed"):
                print(f"            ran because {shown(step.not_reused)}")
    if result.ok:
        print(f"pipeline {shown(result.name)} succeeded: run {result.run_id}")
        return EXIT_OK
    failed = next((s for s in result.steps if s.status == "failed"), None)
    if failed is not None and failed.details:
        print(failed.details, file=sys.stderr)
    name = shown(result.name)
    print(f"nbtrail: pipeline {name} failed (run {result.run_id})", file=sys.stderr)
    if failed is not None:
        print(f"nbtrail: step {shown(repr(failed.name))}: {shown(failed.error)}", file=sys.stderr)
    return EXIT_CHECK_FAILED


def cmd_reproduce(args) -> int:
    from ..pipeline.reproduce import reproduce
    from ..store import open_trail  # a writer: reproducing records the re-runs

    with open_trail() as trail:
        reports = reproduce(trail, args.run, tolerance=args.tolerance)
    if args.json:
        _print_json([r.to_dict() for r in reports])
    else:
        print("\n".join(r.text() for r in reports))
    return EXIT_OK if all(r.reproduced for r in reports) else EXIT_CHECK_FAILED


def cmd_demo(args) -> int:
    from ..demo import run_demo

    return run_demo(Path(args.dir))
