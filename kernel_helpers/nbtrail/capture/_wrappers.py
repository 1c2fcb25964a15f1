"""The wrappers the hooks install: call the original as it was called, then record.

Kept apart from :mod:`.hooks` (what is hooked, and how it is applied) because this is the code
on the user's path on every hooked call: arguments are bound from a layout cached per
function, and an exception keeps no frame of this module in its traceback (see
:func:`_strip_own_frame`).
"""

from __future__ import annotations

import functools
import inspect

from .. import recording
from . import _state

__all__ = ["bind_arguments", "fit_wrapper", "io_wrapper"]


_LAYOUTS: dict = {}


def _layout(original):
    """How a function binds its arguments, read once (``inspect.signature`` costs ~50 us)."""
    try:
        return _LAYOUTS[original]
    except (KeyError, TypeError):
        pass
    try:
        signature = inspect.signature(original)
    except (TypeError, ValueError):
        layout = None
    else:
        positional, keywords, varpos, varkw = [], set(), None, None
        for name, param in signature.parameters.items():
            if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
                positional.append(name)
            if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
                keywords.add(name)
            elif param.kind is param.VAR_POSITIONAL:
                varpos = name
            elif param.kind is param.VAR_KEYWORD:
                varkw = name
        layout = (tuple(positional), frozenset(keywords), varpos, varkw)
    try:
        _LAYOUTS[original] = layout
    except TypeError:  # unhashable callable: bind it each time
        pass
    return layout


def bind_arguments(original, args, kwargs) -> dict:
    """The arguments of a call by parameter name (capture's own work, under its guard).

    Like ``inspect.Signature.bind_partial`` (no defaults filled in), from a layout cached per
    function: capture binds on every hooked call, so this is on the user's path.
    """
    layout = _layout(original)
    if layout is None:
        return {f"arg{i}": a for i, a in enumerate(args)} | kwargs
    positional, keywords, varpos, varkw = layout
    arguments = dict(zip(positional, args, strict=False))
    if len(args) > len(positional):
        if varpos is None:
            return {}
        arguments[varpos] = tuple(args[len(positional) :])
    extra = {}
    for name, value in kwargs.items():
        if name in keywords:
            if name in arguments:
                return {}  # given twice: the call itself failed
            arguments[name] = value
        else:
            extra[name] = value
    if extra:
        if varkw is None:
            return {}
        arguments[varkw] = extra
    return arguments


def _strip_own_frame(exc: BaseException) -> None:
    """Cut the wrapper's own entry off the head of an exception's traceback.

    Called in the wrapper's ``except`` block before a bare ``raise``, which re-raises without
    adding the frame again: the user sees the library's frames and theirs, never nbtrail's.
    """
    tb = exc.__traceback__
    if tb is not None and tb.tb_frame.f_globals.get("__name__") == __name__:
        exc.__traceback__ = tb.tb_next


def io_wrapper(original, spec):
    local = _state.local

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        __tracebackhide__ = True
        session = recording.active()
        if session is None or getattr(local, "depth", 0) or recording.is_quiet():
            try:
                return original(*args, **kwargs)
            except BaseException as exc:
                _strip_own_frame(exc)
                raise
        local.depth = 1
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:
            local.depth = 0
            _strip_own_frame(exc)
            raise
        local.depth = 0
        if spec.action != "quiet":
            _record(session, spec, original, args, kwargs, result)
        return result

    wrapper.__nbtrail_original__ = original
    return wrapper


def _record(session, spec, original, args, kwargs, result) -> None:
    """Hand a call that returned to the session; foreign data and many paths go via _readers."""
    from . import _readers

    if spec.paths is None and not _readers.is_foreign(result):
        session.hooked(spec, original, args, kwargs, result)
        return
    _readers.record_call(session, spec, bind_arguments(original, args, kwargs), result)


def fit_wrapper(original):
    local = _state.local

    @functools.wraps(original)
    def wrapper(self, *args, **kwargs):
        __tracebackhide__ = True
        session = recording.active()
        if session is None or getattr(local, "depth", 0) or recording.is_quiet():
            try:
                return original(self, *args, **kwargs)
            except BaseException as exc:
                _strip_own_frame(exc)
                raise
        local.depth = 1
        try:
            result = original(self, *args, **kwargs)
        except BaseException as exc:
            local.depth = 0
            _strip_own_frame(exc)
            raise
        local.depth = 0
        from . import _readers

        X = args[0] if args else kwargs.get("X")
        y = args[1] if len(args) > 1 else kwargs.get("y", kwargs.get("Y"))
        _readers.before_fit(session, X, y)
        session.fitted(self, X, y, original.__name__)
        _readers.after_fit(session, X, y)
        return result

    wrapper.__nbtrail_original__ = original
    return wrapper
