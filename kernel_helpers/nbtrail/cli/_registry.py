"""``nbtrail registry``: register model versions, move aliases under policy, approve, roll back."""

from __future__ import annotations

from ._commands import EXIT_CHECK_FAILED, EXIT_OK, _print_json, _read, _table, _when
from ._guard import shown


def _write():
    from ..store import open_trail

    return open_trail()


def cmd_registry_register(args) -> int:
    from ..registry import register

    with _write() as trail:
        version = register(args.model, name=args.name, comment=args.comment, trail=trail)
    if args.json:
        _print_json(version.to_dict())
    else:
        print(f"registered {shown(version.ref)} (artifact {version.artifact_id[:12]})")
    return EXIT_OK


def cmd_registry_list(args) -> int:
    from ..registry import list_models

    with _read() as trail:
        table = list_models(trail=trail)
    if args.json:
        _print_json(table.to_dict(orient="records"))
    elif not len(table):
        print("no registered models (nbtrail registry register MODEL --name NAME)")
    else:
        rows = [
            [r.name, str(r.versions), str(r.latest), r.aliases or "-"] for r in table.itertuples()
        ]
        print(_table(rows, ["name", "versions", "latest", "aliases"]))
    return EXIT_OK


def cmd_registry_show(args) -> int:
    from ..registry import get_model

    with _read() as trail:
        model = get_model(args.name, trail=trail)
    if args.json:
        _print_json(model.to_dict())
        return EXIT_OK
    print(repr(model))
    rows = [
        [
            str(v.version),
            v.artifact_id[:12],
            v.registered_by,
            _when(v.registered_at),
            ", ".join(v.aliases) or "-",
        ]
        for v in model.versions
    ]
    print(_table(rows, ["version", "artifact", "by", "registered", "aliases"]))
    print("\nhistory:")
    for r in model.history.itertuples():
        what = r.action + (f" {r.alias}" if isinstance(r.alias, str) else "")
        version = "" if r.version is None or r.version != r.version else f" v{int(r.version)}"
        comment = f": {r.comment}" if isinstance(r.comment, str) and r.comment else ""
        print(f"  {_when(r.at)}  {shown(r.actor)}  {shown(what)}{version}{shown(comment)}")
    return EXIT_OK


def _report_lines(report) -> None:
    for r in report.requirements.itertuples():
        print(f"  {r.state:<7} {shown(r.requirement)}: {shown(r.detail)}")


def cmd_registry_check(args) -> int:
    from ..config import load_settings
    from ..registry import evaluate, get_model, known_checks, load_policies

    with _read() as trail:
        settings = load_settings()
        policies = load_policies(settings, known_checks=known_checks(trail))
        if args.to not in policies:
            _no_policy(args.to, policies)
        model = get_model(args.name, trail=trail)
        report = evaluate(trail, model, model.version(args.version), policies[args.to], settings)
    if args.json:
        _print_json(report.to_dict())
    else:
        verdict = "satisfied" if report.satisfied else "NOT satisfied"
        print(f"policy for {shown(args.to)}: {verdict} by {shown(args.name)}@{report.version}")
        _report_lines(report)
    return EXIT_OK if report.satisfied else EXIT_CHECK_FAILED


def _no_policy(alias, policies):
    from ..errors import UsageError

    known = ", ".join(sorted(policies)) or "none"
    raise UsageError(f"no policy for alias {alias!r} in [tool.nbtrail.policy] (policies: {known})")


def _move(args, alias: str) -> int:
    from ..registry import PromotionRefused, promote

    try:
        with _write() as trail:
            report = promote(args.name, args.version, to=alias, comment=args.comment, trail=trail)
    except PromotionRefused as refused:
        if args.json:
            _print_json(refused.report.to_dict())
        else:
            print(f"refused: {shown(str(refused))}")
            _report_lines(refused.report)
        return EXIT_CHECK_FAILED
    if args.json:
        _print_json(report.to_dict())
    else:
        print(f"{shown(alias)} -> {shown(args.name)}@{report.version}")
        _report_lines(report)
    return EXIT_OK


def cmd_registry_promote(args) -> int:
    return _move(args, args.to)


def cmd_registry_alias(args) -> int:
    return _move(args, args.alias)


def cmd_registry_rollback(args) -> int:
    from ..registry import rollback

    with _write() as trail:
        version = rollback(args.name, alias=args.alias, reason=args.reason, trail=trail)
    print(f"{shown(args.alias)} rolled back to {shown(version.ref)}: {shown(args.reason)}")
    return EXIT_OK


def cmd_registry_resolve(args) -> int:
    from ..registry import resolve

    with _read() as trail:
        print(resolve(args.ref, trail=trail))
    return EXIT_OK


def cmd_registry_approve(args) -> int:
    from ..registry import approve

    with _write() as trail:
        approval = approve(args.name, args.version, comment=args.comment, key=args.key, trail=trail)
    print(
        f"approved {shown(args.name)}@{approval.version} as {shown(approval.approver)} "
        f"({', '.join(approval.roles)}), signed"
    )
    return EXIT_OK


def cmd_registry_keygen(args) -> int:
    from ..registry import generate_key

    public = generate_key(args.path)
    print(f"wrote {shown(args.path)} (private: keep it to yourself)")
    print("add to [tool.nbtrail.approvers]:")
    print(f'{shown(args.user or "YOUR_NAME")} = "{public}"')
    return EXIT_OK


def add_registry_parser(sub, parser_class) -> None:
    """The ``registry`` command and its actions."""
    p = sub.add_parser("registry", help="model registry: versions, aliases, policy, approvals")
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=parser_class)
    actions.required = True

    q = actions.add_parser("register", help="register a model file or artifact as a new version")
    q.add_argument("model", metavar="MODEL", help="a model file on the trail, or an artifact id")
    q.add_argument("--name", required=True, help="the registered model's name")
    q.add_argument("--comment", help="why, recorded with the version")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=cmd_registry_register)

    q = actions.add_parser("list", help="registered models")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=cmd_registry_list)

    q = actions.add_parser("show", help="a model's versions, aliases and history")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=cmd_registry_show)

    q = actions.add_parser("check", help="evaluate an alias's policy for a version (exit 1: unmet)")
    q.add_argument("name", metavar="NAME")
    q.add_argument("version", metavar="VERSION", help="a version number or an alias")
    q.add_argument("--for", dest="to", required=True, metavar="ALIAS", help="whose policy")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(func=cmd_registry_check)

    for name, helptext in (
        ("promote", "point an alias at a version if its policy is met (exit 1: refused)"),
        ("alias", "move an alias (its policy, if any, applies as for promote)"),
    ):
        q = actions.add_parser(name, help=helptext)
        q.add_argument("name", metavar="NAME")
        if name == "alias":
            q.add_argument("alias", metavar="ALIAS")
        q.add_argument("version", metavar="VERSION", help="a version number or an alias")
        if name == "promote":
            q.add_argument("--to", required=True, metavar="ALIAS", help="the alias to move")
        q.add_argument("--comment", help="why, recorded with the move")
        q.add_argument("--json", action="store_true", help="print JSON")
        q.set_defaults(func=cmd_registry_promote if name == "promote" else cmd_registry_alias)

    q = actions.add_parser("rollback", help="move an alias back to its previous version")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--alias", default="champion", help="the alias (default: champion)")
    q.add_argument("--reason", required=True, help="why, recorded with the move")
    q.set_defaults(func=cmd_registry_rollback)

    q = actions.add_parser("resolve", help="print the model file of NAME@ALIAS, NAME@N or NAME")
    q.add_argument("ref", metavar="REF")
    q.set_defaults(func=cmd_registry_resolve)

    q = actions.add_parser("approve", help="approve a version, signed with your Ed25519 key")
    q.add_argument("name", metavar="NAME")
    q.add_argument("version", metavar="VERSION", help="a version number or an alias")
    q.add_argument("--comment", help="what you checked, recorded and signed")
    q.add_argument("--key", help="your private key (default: $NBTRAIL_APPROVER_KEY)")
    q.set_defaults(func=cmd_registry_approve)

    q = actions.add_parser("keygen", help="make an approver key pair; print the public key")
    q.add_argument("path", metavar="PATH", help="where to write the private key (mode 0600)")
    q.add_argument("--user", help="your user name, for the line to paste")
    q.set_defaults(func=cmd_registry_keygen)
