"""Credentials never enter the trail: masking for URLs and connection strings, redaction for code.

The trail is shared and kept for years, so a password seen in passing (a connection URL, a DSN,
a cell that inlines one) is replaced by ``***`` before anything is stored. One module holds the
rules, so every place that records a URL or code masks the same forms:

* URL userinfo: ``scheme://user:PASSWORD@host`` (any scheme SQLAlchemy or libpq accepts);
* ``key=value`` pairs whose key names a credential, in a URL's query (``?password=``), a libpq
  keyword/value DSN (``host=h password='a b'``) and an ODBC string (``UID=u;PWD={x;y};``);
* percent-encoded values that hide one of those (pyodbc's ``odbc_connect=DRIVER%3D...%3BPWD%3D``);
* in code, besides all of the above inside string literals: a string literal bound to a
  credential-looking name (``password = "..."``, ``connect(token="...")``, ``{"api_key": "..."}``).
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

__all__ = ["MASK", "is_secret_name", "mask_url", "redact_code"]

MASK = "***"

_WORDS = ("password", "passwd", "passphrase", "secret", "credential", "apikey")
_EXACT = {"pwd", "pass", "auth", "authorization", "privatekey", "accesskey", "secretkey"}
_KEY_PREFIXES = {
    "api", "access", "secret", "private", "auth", "signing", "encryption", "master",
    "client", "account", "subscription", "license", "session", "app", "service", "sas",
}  # fmt: skip


def is_secret_name(name: str, *, any_key: bool = False) -> bool:
    """Whether a parameter, variable or environment name looks like it holds a credential.

    ``any_key`` also counts every name with a ``key`` part (``AWS_KEY``): right for environment
    variables, too broad for code, where ``sort_key = "date"`` is common.
    """
    parts = [p for p in re.split(r"[^a-z0-9]+", str(name).lower()) if p]
    if not parts:
        return False
    compact = "".join(parts)
    if compact in ("pwd", "oldpwd"):
        return not any_key  # the shell's PWD is the working directory, not a password
    if compact in _EXACT or "pwd" in parts:
        return True
    for i, part in enumerate(parts):
        if any(word in part for word in _WORDS) or part.endswith("token"):
            return True  # "tokenizer" is not a token
        if part in ("key", "keys") and (any_key or (i and parts[i - 1] in _KEY_PREFIXES)):
            return True
    return False


# ------------------------------------------------------------------------------------------------
# URLs and connection strings

# userinfo: the password runs to the last "@" before the path, or (with a "/" in it) to the first.
_USERINFO = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s'\"]*:)"
    r"(?P<pw>[^\s'\"/?#]*(?=@)|[^\s'\"@]*(?=@))"
)
# key=value: after the start, a separator of a query, DSN or ODBC string, or an option's dashes.
_PAIR = re.compile(
    r"(?<![^?&;\s,(\-])(?P<key>[A-Za-z_][\w.\-]*)(?P<eq>\s*=\s*)"
    r"(?P<val>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\{(?:[^}]|\}\})*\}|[^\s&;#'\"]*)"
)
# ODBC values run to the next ";" and may hold spaces
_ODBC_PAIR = re.compile(
    r"(?<![^;\s])(?P<key>[A-Za-z_][\w .\-]*?)(?P<eq>\s*=\s*)(?P<val>\{(?:[^}]|\}\})*\}|[^;{]*)"
)
_ENCODED = re.compile(r"(?<=[=])(?P<val>[^\s&;#'\"]*%[0-9A-Fa-f]{2}[^\s&;#'\"]*)")


def _masked_value(value: str) -> str:
    if value[:1] in ("'", '"'):
        return value[0] + MASK + value[0]
    if value[:1] == "{":
        return "{" + MASK + "}"
    return MASK


def _mask(text: str) -> tuple[str, int]:
    """``text`` with every credential form masked, and how many values were masked."""
    count = 0
    odbc = ";" in text and "://" not in text

    def userinfo(match: re.Match) -> str:
        nonlocal count
        if not match.group("pw") or match.group("pw") == MASK:
            return match.group(0)
        count += 1
        return match.group("head") + MASK

    def pair(match: re.Match) -> str:
        nonlocal count
        value = match.group("val")
        if not is_secret_name(match.group("key")) or value.strip("'\"{}") in ("", MASK):
            return match.group(0)
        count += 1
        return match.group("key") + match.group("eq") + _masked_value(value)

    def encoded(match: re.Match) -> str:
        nonlocal count
        inner, found = _mask(unquote(match.group("val")))
        if not found:
            return match.group(0)
        count += found
        return quote(inner, safe="*/:@")

    text = _USERINFO.sub(userinfo, text)
    if odbc:  # ODBC values run to the next ";" and may hold spaces
        text = _ODBC_PAIR.sub(pair, text)
    text = _PAIR.sub(pair, text)
    text = _ENCODED.sub(encoded, text)
    return text, count


def mask_url(text) -> str:
    """Return a URL, DSN or ODBC connection string with every credential value as ``***``.

    Anything else is returned unchanged, so it is safe to call on any text that may hold one
    (a URL a cell fetched, a subprocess's command line).
    """
    if text is None:
        return text
    return _mask(str(text))[0]


# ------------------------------------------------------------------------------------------------
# code

_STRING_START = re.compile(r"(?i)(?:[rbuf]{0,2})('''|\"\"\"|'|\")")
_BOUND_NAME = re.compile(r"(?P<name>[A-Za-z_]\w*)\s*(?::\s*[\w.\[\], |]*)?\s*(?:==|=|:|\+=)\s*$")
_AFTER_KEY = re.compile(r"^\s*(?:\]\s*)?(?:==|=|:)\s*$")


def _segments(code: str) -> list[list]:
    """Split code into ``[kind, text]`` segments: ``code``, ``comment``, ``string``.

    A small scanner, not the tokenizer: cells hold IPython magics and shell escapes that the
    tokenizer refuses, and an unterminated string simply runs to the end.
    """
    out: list[list] = []
    i, n, start = 0, len(code), 0
    while i < n:
        ch = code[i]
        if ch == "#":
            end = code.find("\n", i)
            end = n if end < 0 else end
            out.append(["code", code[start:i]])
            out.append(["comment", code[i:end]])
            i = start = end
            continue
        match = _STRING_START.match(code, i) if ch in "'\"rRbBuUfF" else None
        if match and (i == 0 or not (code[i - 1].isalnum() or code[i - 1] == "_")):
            quote_ = match.group(1)
            j, closed = match.end(), 0
            while j < n:
                if code[j] == "\\":
                    j += 2
                    continue
                if code.startswith(quote_, j):
                    j, closed = j + len(quote_), len(quote_)
                    break
                if len(quote_) == 1 and code[j] == "\n":
                    break
                j += 1
            j = min(j, n)
            out.append(["code", code[start:i]])
            out.append(["string", code[i:j], match.end() - i, closed])
            i = start = j
            continue
        i += 1
    out.append(["code", code[start:]])
    return [s for s in out if s[1]]


def _body(segment: list) -> tuple[str, str, str]:
    """(prefix and opening quote, body, closing quote) of a string segment."""
    text, opened, closing = segment[1], segment[2], segment[3]
    body_end = len(text) - closing
    return text[:opened], text[opened:body_end], text[body_end:]


def redact_code(code: str) -> tuple[str, int]:
    """Return ``code`` with credentials replaced by ``***``, and how many were replaced.

    Masked: every form :func:`mask_url` knows, inside string literals and comments; and the
    whole value of a string literal bound to a credential-looking name (an assignment, a
    keyword argument, a dict or subscript key). The same code always gives the same result.
    """
    segments = _segments(code)
    count = 0
    for index, segment in enumerate(segments):
        if segment[0] == "comment":
            segment[1], found = _mask(segment[1])
            count += found
            continue
        if segment[0] != "string":
            continue
        head, body, tail = _body(segment)
        if body and body != MASK and _bound_to_secret(segments, index):
            segment[1] = head + MASK + tail
            count += 1
            continue
        masked, found = _mask(body)
        if found:
            segment[1] = head + masked + tail
            count += found
    return "".join(s[1] for s in segments), count


def _bound_to_secret(segments: list[list], index: int) -> bool:
    """Whether the string at ``index`` is the value bound to a credential-looking name."""
    if index == 0 or segments[index - 1][0] != "code":
        return False
    before = segments[index - 1][1]
    match = _BOUND_NAME.search(before)
    if match is not None:
        return is_secret_name(match.group("name"))
    # {"api_key": "..."}, os.environ["PGPASSWORD"] = "...", dict(**{"token": "..."})
    if index >= 2 and segments[index - 2][0] == "string" and _AFTER_KEY.match(before):
        return is_secret_name(_body(segments[index - 2])[1])
    return False
