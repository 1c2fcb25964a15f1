"""``nbtrail card``, ``nbtrail datasheet``, ``nbtrail audit``: documents made from the trail."""

from __future__ import annotations

from ._commands import EXIT_OK, _read
from ._guard import shown


def _write_document(doc, args) -> int:
    fmt = args.format or ("html" if (args.output or "").endswith((".html", ".htm")) else "md")
    if args.output in (None, "-"):
        print(doc.html() if fmt == "html" else doc.markdown(), end="")
    else:
        path = doc.save(args.output, format=fmt)
        gaps = len(doc.missing)
        print(f"wrote {shown(path)} ({len(doc.sections)} sections, {gaps} missing)")
    return EXIT_OK


def cmd_card(args) -> int:
    from ..report import model_card

    with _read() as trail:
        doc = model_card(args.model, intent=args.intent, trail=trail)
    return _write_document(doc, args)


def cmd_datasheet(args) -> int:
    from ..report import datasheet

    with _read() as trail:
        doc = datasheet(args.data, declared=args.declared, trail=trail)
    return _write_document(doc, args)


def cmd_audit(args) -> int:
    from ..report import annex_iv_bundle

    if not args.annex_iv:
        from ..errors import UsageError

        raise UsageError("nbtrail audit needs --annex-iv (the one bundle it makes today)")
    output = args.output or f"annex-iv-{args.model.replace('@', '-').replace('/', '-')}"
    with _read() as trail:
        folder = annex_iv_bundle(args.model, output, intent=args.intent, trail=trail)
    index = (folder / "index.md").read_text(encoding="utf-8")
    gaps = next(line for line in index.splitlines() if line.startswith("Items without evidence"))
    print(f"wrote {shown(folder)} (index.md, MANIFEST.json); {shown(gaps)}")
    return EXIT_OK


def add_document_parsers(sub) -> None:
    """``card`` (and, beside it, the other documents made from evidence)."""
    p = sub.add_parser("card", help="a model card generated from the trail's evidence")
    p.add_argument("model", metavar="MODEL", help="NAME[@ALIAS|@N], a model file or artifact id")
    p.add_argument("--intent", help="YAML declaring intended use, users, out-of-scope uses...")
    p.add_argument("--format", choices=("md", "html"), help="default: from --output, else md")
    p.add_argument("--output", help="file to write (default: print)")
    p.set_defaults(func=cmd_card)

    p = sub.add_parser("datasheet", help="a datasheet for a dataset from the trail's evidence")
    p.add_argument("data", metavar="DATA", help="a data file on the trail, or an artifact id")
    p.add_argument("--declared", help="YAML declaring motivation, collection, licence...")
    p.add_argument("--format", choices=("md", "html"), help="default: from --output, else md")
    p.add_argument("--output", help="file to write (default: print)")
    p.set_defaults(func=cmd_datasheet)

    p = sub.add_parser("audit", help="technical documentation of a model from the trail")
    p.add_argument("model", metavar="MODEL", help="NAME[@ALIAS|@N], a model file or artifact id")
    p.add_argument("--annex-iv", action="store_true", help="the EU AI Act Annex IV bundle")
    p.add_argument("--intent", help="YAML declaring intended use, as for nbtrail card")
    p.add_argument("--output", help="a new folder (default: annex-iv-MODEL)")
    p.set_defaults(func=cmd_audit)
