"""Queries as artifacts: a SQL read or write is identified by its text and its connection's URL.

The URL is recorded without any credential (userinfo, ``?password=``, DSN and ODBC forms: see
:mod:`nbtrail._secrets`), and the query with credentials in it redacted. The data behind a
query is not fingerprinted (it lives in someone else's database), so a query is an input
capture cannot verify later.
"""

from __future__ import annotations

import json

from .._secrets import mask_url, redact_code
from ..fingerprints import Fingerprint, digest_bytes

__all__ = ["connection_url", "query_fingerprint"]


def connection_url(con) -> str:
    """Return the connection's URL (or a description of it) without any credential in it."""
    return mask_url(_describe(con))


def _describe(con) -> str:
    if isinstance(con, str) and "://" not in con:
        return con  # a libpq DSN or an ODBC string: masked as it is
    try:
        from sqlalchemy.engine import make_url

        if isinstance(con, str):
            return make_url(con).render_as_string(hide_password=True)
        url = getattr(con, "url", None) or getattr(getattr(con, "engine", None), "url", None)
        if url is not None:
            return url.render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparseable URL is described below instead
        pass
    module = type(con).__module__
    if module.startswith("sqlite3"):
        try:
            rows = con.execute("PRAGMA database_list").fetchall()
            path = next((r[2] for r in rows if r[1] == "main"), "")
            return f"sqlite:///{path}" if path else "sqlite://"
        except Exception:  # noqa: BLE001 - a closed or busy connection: fall through
            pass
    return f"{module}.{type(con).__name__}"


def query_fingerprint(text, con, kind: str) -> Fingerprint | None:
    """The artifact of a query (``kind="query"``) or a written table (``kind="table"``)."""
    if text is None:
        return None
    if not isinstance(text, str):
        text = str(text)  # a SQLAlchemy selectable
    text = redact_code(text)[0]  # the query is identified by what is stored
    url = connection_url(con)
    data = json.dumps({"kind": kind, "query": text, "url": url}, sort_keys=True).encode()
    return Fingerprint(digest_bytes(data), kind, meta={"query": text[:2000], "url": url})
