"""What keeps the HTML report inert: one way to escape, one way to link, statuses re-checked.

The report is opened from disk (``file://``), from Jupyter's ``/files/`` and from CI artifact
viewers, and everything in it was read from a trail that anyone who can write the project
folder can edit. So nothing read from the trail is trusted:

* every text and attribute value goes through :func:`esc` (both quote kinds escaped);
* every ``href`` is made by :func:`local_href`: a relative URL that starts with ``./`` or
  ``../`` with each path segment percent-encoded, so no file name can read as a scheme
  (``javascript:``), a query or a fragment; or, when no relative path exists (another drive),
  an absolute ``file:`` URL;
* a status is shown only when it is a word of the vocabulary; anything else is an
  ``unknown`` badge;
* the page carries a Content-Security-Policy that allows inline styles and nothing that runs.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from urllib.parse import quote

__all__ = ["CSP", "UNKNOWN", "csp_meta", "esc", "known", "local_href", "status_badge"]

# The report needs inline <style> and style attributes, nothing else: no script of any kind
# (with script-src falling back to 'none', a javascript: URL cannot run either), no fetches,
# no frames, no forms, no <base>. data: images are allowed so that a registered check
# renderer may draw an inline picture; a data: image cannot run script.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)

UNKNOWN = "unknown"


def esc(value) -> str:
    """HTML-escape any value, ``"`` and ``'`` included: safe in text and in attributes."""
    return html.escape(str(value), quote=True)


def csp_meta() -> str:
    """The ``<meta>`` element carrying :data:`CSP` (put it first in ``<head>``)."""
    return f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'


def local_href(target: str | os.PathLike, base: str | os.PathLike) -> str:
    """The URL of a local file as seen from a page saved in folder ``base``.

    A relative path (``./a%3Ab.ipynb``, ``../runs/x/nb.ipynb``), every segment percent-encoded
    (``:``, ``<``, ``'``, ``#``, ``?``, ``%`` and spaces included), so the result is never a
    scheme, a query or a fragment whatever the file is called. When the file cannot be reached
    by a relative path (another drive on Windows), its absolute ``file:`` URL. A relative
    ``target`` is taken relative to the current directory, as the file system does.
    The result is still to be escaped (:func:`esc`) like any attribute value.
    """
    absolute = Path(os.path.abspath(target))
    try:
        relative = os.path.relpath(absolute, os.path.abspath(base))
    except ValueError:  # another drive: no relative path exists
        return absolute.as_uri()
    segments = [quote(part, safe="") for part in Path(relative).parts if part != "."]
    if segments and segments[0] == "..":
        return "/".join(segments)
    return "./" + "/".join(segments)


def known(status, vocabulary) -> str:
    """``status`` when it is one of ``vocabulary``, else ``"unknown"``."""
    return status if isinstance(status, str) and status in vocabulary else UNKNOWN


def status_badge(status, vocabulary) -> str:
    """A status badge; a status outside ``vocabulary`` shows as ``unknown``, never verbatim.

    The CSS class is the status itself only after it was found in the vocabulary (a space
    becomes ``-``); the raw value of an unknown one is kept in an escaped tooltip.
    """
    word = known(status, vocabulary)
    if word == UNKNOWN:
        return (
            f"<span class='badge {UNKNOWN}' title='recorded status: {esc(status)}'>{UNKNOWN}</span>"
        )
    return f"<span class='badge {esc(word.replace(' ', '-'))}'>{esc(word)}</span>"
