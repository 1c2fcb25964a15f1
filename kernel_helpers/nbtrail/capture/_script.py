"""``nbtrail.track``: the same capture as in a notebook, around a block of a plain script."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .. import recording
from ..errors import UsageError
from ..store import open_or_create_trail
from .session import CaptureSession

__all__ = ["track"]


@contextlib.contextmanager
def track(
    name: str,
    *,
    params: dict | None = None,
    trail=None,
) -> Iterator:
    """Capture a plain Python script's reads, writes and fits as one run.

    Parameters
    ----------
    name : str
        The run's name.
    params : dict, optional
        The run's parameters.
    trail : Trail, optional
        Where to record; default: the trail that applies in the working directory (created
        there if there is none).

    Yields
    ------
    Run
        The run, for logging metrics and checks by hand.

    Examples
    --------
    ::

        with nbtrail.track("train") as run:
            df = pd.read_csv("data/adult.csv")
            model = LogisticRegression().fit(X, y)
            joblib.dump(model, "model.joblib")
            run.log_metric("accuracy", 0.85)
    """
    if recording.active() is not None:
        raise UsageError(
            "capture is already recording in this process; use run.start_run() for a sub-run"
        )
    owns = trail is None
    trail = trail or open_or_create_trail()
    try:
        session = CaptureSession(trail, name=name, kind="script", params=params, owns_trail=owns)
    except BaseException:
        if owns:
            trail.close()
        raise
    session.start()
    session.begin_script()
    try:
        yield session.run
    except BaseException as exc:
        session.end_script(exc)
        aborted = isinstance(exc, KeyboardInterrupt)
        session.close("aborted" if aborted else "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    else:
        session.end_script(None)
        session.close("succeeded")
