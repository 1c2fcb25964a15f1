"""``nbtrail monitor SPEC``: one monitoring run from cron or CI; exit 1 when an alert fires."""

from __future__ import annotations

from ._commands import EXIT_OK, _print_json
from ._guard import shown

EXIT_ALERT = 1


def cmd_monitor(args) -> int:
    from ..monitor import load_monitor_spec, run_monitor

    spec = load_monitor_spec(args.spec)  # every key checked before anything runs (exit 2)
    result = run_monitor(spec)
    if args.json:
        _print_json(
            {
                "run_id": result.run_id,
                "checks": [
                    {"name": c.name, "status": c.status, "summary": c.summary, "id": c.record_id}
                    for c in result.checks
                ],
                "alerts": [a.to_dict() for a in result.alerts],
                "deliveries": [d.__dict__ for d in result.deliveries],
                "triggers": [
                    {
                        "status": t.status,
                        "summary": t.summary,
                        **(t.details.to_dict(orient="records")[0] if len(t.details) else {}),
                    }
                    for t in result.triggers
                ],
            }
        )
    else:
        print(f"monitoring run {result.run_id} ({shown(spec.name)})")
        for check in result.checks:
            print(f"  {check.status:<5} {check.name}: {shown(check.summary)}")
        for alert in result.alerts:
            print(f"ALERT {shown(str(alert))}")
        for delivery in result.deliveries:
            if not delivery.ok:
                print(f"  alert not delivered to {shown(delivery.channel)}: {delivery.error}")
        for trigger in result.triggers:
            print(f"TRIGGER {shown(trigger.summary)}")
    return EXIT_ALERT if result.alerted else EXIT_OK
