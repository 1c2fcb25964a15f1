"""``nbtrail budget``: a dataset's privacy budget, set by its owner, and what was spent from it."""

from __future__ import annotations

from ._commands import EXIT_OK, _print_json, _read, _table, _when
from ._guard import shown


def cmd_budget_set(args) -> int:
    from ..privacy import set_budget
    from ..store import open_trail

    with open_trail() as trail:
        status = set_budget(
            args.data,
            args.epsilon,
            args.delta,
            slack=args.slack,
            replace=args.replace,
            trail=trail,
        )
    if args.json:
        _print_json(status.to_dict())
        return EXIT_OK
    print(
        f"budget of {shown(status.name)}: epsilon {status.epsilon:g}, delta {status.delta:g}"
        + (f", slack {status.slack:g}" if status.slack else "")
        + f"; spent so far epsilon {status.spent_epsilon:g} (owner {shown(status.actor)})"
    )
    return EXIT_OK


def cmd_budget_show(args) -> int:
    from ..privacy import budgets

    with _read() as trail:
        found = budgets(args.data, trail=trail)
    if args.json:
        _print_json([b.to_dict() for b in found])
        return EXIT_OK
    if not found:
        print("no privacy budget" + (f" on {shown(args.data)}" if args.data else "s on this trail"))
        return EXIT_OK
    rows = [
        [
            b.name,
            b.actor,
            f"{b.epsilon:g}",
            f"{b.delta:g}",
            f"{b.spent_epsilon:g}",
            f"{b.remaining_epsilon:g}",
            str(len(b.spends)),
        ]
        for b in found
    ]
    print(_table(rows, ["dataset", "owner", "epsilon", "delta", "spent", "remaining", "spends"]))
    if args.data:
        for b in found:
            spends = [
                [
                    _when(s["created_at"]),
                    s["actor"],
                    (s["run_id"] or "-")[:13],
                    s["mechanism"],
                    f"{s['epsilon']:g}",
                    f"{s['delta']:g}",
                    s["note"] or "",
                ]
                for s in b.spends
            ]
            if spends:
                print()
                print(
                    _table(spends, ["when", "who", "run", "mechanism", "epsilon", "delta", "note"])
                )
    return EXIT_OK
