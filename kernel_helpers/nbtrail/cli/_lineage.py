"""``nbtrail export openlineage``: a run's events as JSON Lines, or over HTTP through the queue.

``--url URL`` (or, with ``--drain``, the configured ``[tool.nbtrail.openlineage] url`` /
``NBTRAIL_OPENLINEAGE_URL``) queues the run's events in the trail's ``.nbtrail/openlineage``
folder and delivers the queue, oldest first. A receiver that cannot be reached (or answers 5xx)
is exit 2 with one line naming the URL and the setting it came from; the events stay queued and
``nbtrail export openlineage --drain`` delivers them later. Events the receiver refuses (4xx)
are set aside in the queue's ``rejected/`` folder: exit 1.
"""

from __future__ import annotations

import sys

from ..errors import UsageError
from ._commands import EXIT_CHECK_FAILED, EXIT_OK, _read
from ._commands import cmd_export_openlineage as _write_json_lines
from ._guard import shown

__all__ = ["add_openlineage_parser", "cmd_export_openlineage"]


def add_openlineage_parser(targets):
    """Add ``openlineage`` to the ``export`` targets (``targets``: their subparsers action)."""
    q = targets.add_parser(
        "openlineage",
        help="a run as OpenLineage RunEvents: JSON Lines, or posted to a receiver (--url)",
        description=__doc__.split("\n\n", 1)[1],
    )
    q.add_argument("run", nargs="?", help="run id or a unique prefix of it")
    q.add_argument("-o", "--output", help="file to write (default: standard output)")
    q.add_argument("--namespace", default="nbtrail", help="OpenLineage job namespace")
    q.add_argument(
        "--url",
        help="post the events to this receiver (POST URL/api/v1/lineage), through the queue",
    )
    q.add_argument(
        "--drain",
        action="store_true",
        help="deliver the queued events (to --url, or the configured openlineage url)",
    )
    q.set_defaults(func=cmd_export_openlineage)
    return q


def _destination(args):
    """(url, setting, timeout, api_key) from ``--url`` or the configured live transport."""
    import os

    from ..export import check_url, lineage_settings

    api_key = os.environ.get("NBTRAIL_OPENLINEAGE_API_KEY") or None
    if args.url is not None:
        return check_url(args.url, "--url"), "--url", 10.0, api_key
    config = lineage_settings()
    if config is None:
        raise UsageError(
            "no OpenLineage receiver: pass --url URL, or set url in [tool.nbtrail.openlineage] "
            "or NBTRAIL_OPENLINEAGE_URL"
        )
    return config.url, config.setting, config.timeout, config.api_key


def cmd_export_openlineage(args) -> int:
    """Write a run's events as JSON Lines, or deliver them (and the queue) to a receiver."""
    if args.url is None and not args.drain:
        if args.run is None:
            raise UsageError("export openlineage needs RUN (or --drain to deliver the queue)")
        return _write_json_lines(args)
    if args.output is not None:
        raise UsageError("-o/--output writes JSON Lines; it cannot be combined with --url/--drain")

    from ..export import public_url, queue_for, run_events

    url, setting, timeout, api_key = _destination(args)
    with _read() as trail:
        events = run_events(trail, args.run, namespace=args.namespace) if args.run else []
        home = trail.home
    queue = queue_for(home, url)
    if events:
        queue.put(events)
    result = queue.drain(url, timeout=timeout, api_key=api_key)
    where = public_url(url)
    if result.error:
        raise UsageError(
            f"OpenLineage receiver ({setting}): {result.error}; {result.queued} events stay "
            f"queued in {queue.folder}; `nbtrail export openlineage --drain` delivers them"
        )
    print(f"delivered {result.delivered} OpenLineage events to {shown(where)}; queue empty")
    if result.rejected:
        print(
            f"nbtrail: error: {result.rejected} events rejected by {shown(where)}; kept with "
            f"the reasons in {shown(queue.rejected_folder)}",
            file=sys.stderr,
        )
        return EXIT_CHECK_FAILED
    return EXIT_OK
