"""A technical-documentation bundle for one model: EU AI Act Annex IV items mapped to evidence.

``nbtrail audit MODEL --annex-iv --output DIR`` writes, from the trail alone: the model card, a
datasheet per training file, the runs and lineage that made the model, every check that judged
it or its data (the test logs) with the signed approvals and impact assessments, the registry's
history, the monitoring runs, the audit events about all of these (Article 12's automatic
logs), and ``verify``'s result with the chain head. ``index.md`` maps each Annex IV item to the
files that hold its evidence and marks the items the trail holds none for; ``MANIFEST.json``
lists every file with its SHA-256, so the bundle itself can be checked after it is sent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

from .._json import jsonable
from ..errors import UsageError

__all__ = ["ANNEX_IV", "annex_iv_bundle"]

# (item, what Annex IV asks, the bundle files that hold evidence for it)
ANNEX_IV = (
    ("1(a)", "intended purpose, provider, version", ["model_card.md"]),
    ("1(c)", "versions of relevant software", ["environment.json"]),
    ("1(h)", "instructions for use", []),
    ("2(a)", "methods and steps of development", ["runs.json", "lineage.json"]),
    ("2(b)", "design choices, what the system optimises", ["runs.json"]),
    ("2(d)", "data requirements: datasheets, provenance, cleaning", ["datasheets/"]),
    ("2(e)", "human oversight measures", ["signatures.json (impact assessment)"]),
    (
        "2(g)",
        "validation and testing; signed and dated test logs",
        ["checks.json", "signatures.json"],
    ),
    ("2(h)", "cybersecurity measures (integrity of the records)", ["verify.json", "events.jsonl"]),
    ("3", "capabilities, limitations, accuracy for groups of persons", ["model_card.md"]),
    ("4", "appropriateness of the performance metrics", ["checks.json (business_value)"]),
    ("5", "risk management system", ["signatures.json (impact assessment)"]),
    ("6", "changes through the lifecycle", ["registry.json", "events.jsonl"]),
    ("7", "harmonised standards applied", []),
    ("8", "EU declaration of conformity", []),
    ("9", "post-market monitoring", ["monitoring.json"]),
)


def _write(folder: Path, name: str, data) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    text = data if isinstance(data, str) else json.dumps(jsonable(data), indent=2, default=str)
    path.write_text(text, encoding="utf-8")


def annex_iv_bundle(model, output, *, intent=None, trail=None) -> Path:
    """Write the bundle for ``model`` into the new folder ``output``; return the folder.

    Parameters
    ----------
    model : str or path
        ``NAME[@ALIAS|@N]``, a model file on the trail or a model artifact id.
    output : path
        A folder that does not exist yet (or is empty): a bundle is never mixed with older files.
    intent : dict or path, optional
        The declared intent, as for the model card.
    """
    from ..registry import using_trail

    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise UsageError(f"{output}: exists and is not an empty folder")
    with using_trail(trail) as found:
        staging = output.with_name(f".{output.name}.partial")
        if staging.exists():
            import shutil

            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        try:
            _bundle(found, model, staging, intent)
        except BaseException:
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
            raise
        if output.exists():
            output.rmdir()
        os.replace(staging, output)
    return output


def _bundle(trail, model, folder: Path, intent) -> list:
    from ..registry import verify_approvals
    from ..store import registry_history
    from ._card import _target, _top, model_card, short

    art, version, registered = _target(trail, model)
    card = model_card(art.id if version is None else version.ref, intent=intent, trail=trail)
    _write(folder, "model_card.md", card.markdown())
    _write(folder, "model_card.html", card.html())

    upstream = trail.lineage(art.id, direction="upstream")
    artifacts = upstream.artifacts
    ids = list(dict.fromkeys([art.id, *artifacts["id"]]))
    runs = [n for n in upstream.nodes.values() if n["type"] == "run"]
    _write(
        folder,
        "lineage.json",
        {
            "model": art.id,
            "artifacts": artifacts.to_dict(orient="records"),
            "edges": sorted(list(e) for e in upstream.edges),
        },
    )
    details = [trail.get_run(r["id"]) for r in runs]
    _write(folder, "runs.json", [r.to_dict() for r in details])

    # The environments the training runs (and the sessions or template runs above their
    # cells) used: package versions, Python, platform.
    tops = {_top(trail, r["id"]) for r in runs}
    used = {u.artifact.id for t in tops for u in trail.run_details(t).used}
    kinds = dict(zip(artifacts["id"], artifacts["kind"], strict=True))
    environment_ids = sorted(
        i for i in used | set(kinds) if kinds.get(i, trail.get_artifact(i).kind) == "environment"
    )
    environments = [
        {"id": a.id, "name": a.name, "content": _content(trail, a)}
        for a in (trail.get_artifact(i) for i in environment_ids)
    ]
    _write(folder, "environment.json", environments)

    datasheets = []
    try:
        from ._datasheet import datasheet
    except ImportError:  # pragma: no cover - the datasheet module ships with report
        datasheet = None
    files = artifacts[(artifacts["kind"] == "file") & (artifacts["id"] != art.id)]
    for ident in files["id"]:
        if datasheet is not None:
            _write(
                folder, f"datasheets/{short(ident)}.md", datasheet(ident, trail=trail).markdown()
            )
            datasheets.append(ident)

    checks = trail.checks(judged=ids)
    _write(
        folder,
        "checks.json",
        [c.to_dict() | {"actor": _actor(trail, c.run_id)} for c in checks],
    )
    rows = registry_history(trail, registered.name) if registered else []
    _write(folder, "registry.json", rows)
    signatures = {
        "approvals": [r for r in rows if r["action"] == "approve"],
        "impact_assessments": [c.to_dict() for c in checks if c.name == "impact_assessment"],
    }
    _write(folder, "signatures.json", signatures)

    monitors = [r for r in trail.runs(kind="monitor") if (r.params or {}).get("model") == art.id]
    monitoring = [
        r.to_dict() | {"checks": [c.to_dict() for c in trail.checks([r.id])]} for r in monitors
    ]
    _write(folder, "monitoring.json", monitoring)

    subjects = ids + [r["id"] for r in runs] + [c.id for c in checks] + [r["id"] for r in rows]
    subjects += [r.id for r in monitors]
    events = trail.events(subjects)
    _write(
        folder, "events.jsonl", "".join(json.dumps(jsonable(e), default=str) + "\n" for e in events)
    )

    report = trail.verify()
    problems = verify_approvals(trail)
    _write(folder, "verify.json", report.to_dict() | {"approval_problems": problems})

    present = {
        "model_card.md": True,
        "environment.json": bool(environments),
        "runs.json": bool(details),
        "lineage.json": True,
        "datasheets/": bool(datasheets),
        "signatures.json": bool(signatures["approvals"] or signatures["impact_assessments"]),
        "signatures.json (impact assessment)": bool(signatures["impact_assessments"]),
        "checks.json": bool(checks),
        "checks.json (business_value)": any((c.kind or c.name) == "business_value" for c in checks),
        "verify.json": True,
        "events.jsonl": bool(events),
        "registry.json": bool(rows),
        "monitoring.json": bool(monitoring),
    }
    index = [
        f"# Annex IV technical documentation: {card.title.removeprefix('Model card: ')}",
        "",
        f"Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC from the trail; "
        f"chain head `{report.head}`; verify: {'ok' if report.ok and not problems else 'FAILED'}.",
        "",
        "| item | Annex IV asks for | evidence in this bundle |",
        "|---|---|---|",
    ]
    mapped = []
    for item, asks, where in ANNEX_IV:
        held = [w for w in where if present.get(w)]
        mapped.append({"item": item, "asks": asks, "evidence": held})
        cell = ", ".join(f"`{w}`" for w in held) or "**no evidence on the trail**"
        index.append(f"| {item} | {asks} | {cell} |")
    gaps = [m["item"] for m in mapped if not m["evidence"]]
    index += ["", f"Items without evidence: {', '.join(gaps) or 'none'}.", ""]
    if card.missing:
        index += ["Declarations missing from the model card:", ""]
        index += [f"- {m}" for m in card.missing] + [""]
    _write(folder, "index.md", "\n".join(index))
    _manifest(folder, report.head)
    return mapped


def _actor(trail, run_id: str) -> str | None:
    try:
        return trail.get_run(run_id).actor
    except LookupError:
        return None


def _content(trail, art):
    if not art.snapshot:
        return None
    try:
        data = trail.load(art.id)
    except Exception:  # noqa: BLE001  (a missing blob is verify's finding, not the bundle's)
        return None
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else jsonable(data)


def _manifest(folder: Path, head: str) -> None:
    files = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        files.append(
            {
                "path": path.relative_to(folder).as_posix(),
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
            }
        )
    _write(folder, "MANIFEST.json", {"chain_head": head, "files": files})
