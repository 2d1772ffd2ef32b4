"""What of a database URL or DSN is secret, and how it is hidden: the one definition.

Everything alembic_guard prints, logs, stores in the ledger or puts in a
report goes through :func:`mask_url` (a URL it holds) or :func:`scrub` (free
text: error messages from drivers, log lines).  A secret is

- the password of a URL's userinfo (``user:secret@host``, percent-encoded
  or not);
- the value of a query parameter or libpq keyword whose name says it
  carries one (:func:`is_secret_key`: ``password``, ``sslpassword`` --- the
  passphrase of ``sslkey`` ---, anything with ``password``, ``passwd``,
  ``passphrase``, ``pwd``, ``secret`` or ``token`` in its name);
- such a ``key=value`` inside ``options`` (``options=-c password=...``);
- such a ``key=value`` in a libpq DSN string (``host=h password='s e' ...``)
  or a ``'password': '...'`` pair of a dictionary's repr, as drivers echo
  them in error text.

When a URL is ambiguous (an ``@`` both in a password and in a query value)
the mask covers more rather than less: everything up to the last ``@`` of
the URL is treated as userinfo, as SQLAlchemy's own URL parser does.
Nothing here decodes a secret for display, and nothing opens a connection:
the module is pure (no SQLAlchemy import; a URL object is rendered through
its own ``render_as_string(hide_password=True)``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote, unquote_plus

MASK = "***"
"""What a secret is replaced by (SQLAlchemy's own choice for a hidden password)."""

SECRET_WORDS = ("password", "passwd", "passphrase", "pwd", "secret", "token")
"""A parameter whose name contains one of these carries a secret."""

_SECRET_KEY_RE = r"[A-Za-z0-9_.-]*(?:" + "|".join(SECRET_WORDS) + r")[A-Za-z0-9_.-]*|pass"

_URL = r"[A-Za-z][A-Za-z0-9+.-]*://\S*"
# key = value as libpq reads it: quoted with '...' (backslash escapes) or a bare word.
_PAIR = (
    r"(?P<key>(?i:" + _SECRET_KEY_RE + r"))(?P<eq>\s*=\s*)"
    r"(?P<val>'(?:[^'\\]|\\.)*(?:'|\\?$)|\"(?:[^\"\\]|\\.)*(?:\"|\\?$)|\S+)"
)
# 'password': '...' in the repr of a dict of connect arguments.
_DICT_PAIR = (
    r"(?P<dq>['\"])(?P<dkey>(?i:" + _SECRET_KEY_RE + r"))(?P=dq)(?P<colon>\s*:\s*)"
    r"(?P<dval>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^,}\s]+)"
)
_AFTER_MASK = ":;,.)]}>'\""
_TEXT_RE = re.compile(rf"(?P<url>{_URL})|{_DICT_PAIR}|{_PAIR}")
_PAIR_RE = re.compile(_PAIR)
# A query parameter; a value runs to the next "&" that starts another key=value
# (a bare "&x" without "=" is taken as part of the value, so a secret with an
# unencoded "&" is masked whole).
_QUERY_PARAM_RE = re.compile(r"(?P<sep>[?&])(?P<key>[^=&?]*)=(?P<val>[^&]*(?:&[^&=]*(?=&|$))*)")


def is_secret_key(name: str) -> bool:
    """Whether a URL query parameter / libpq keyword named ``name`` carries a secret."""
    key = unquote_plus(name).strip().lstrip("-").lower()
    return key == "pass" or any(word in key for word in SECRET_WORDS)


def mask_url(url: Any) -> str:
    """``url`` (a string or a SQLAlchemy ``URL``) for display, every secret replaced by ``***``.

    The whole string is one URL (a password may hold spaces); a string that
    is not a URL (a DSN such as ``host=h password=s``) is scrubbed as text.
    """
    if url is None:
        return ""
    render = getattr(url, "render_as_string", None)
    text = render(hide_password=True) if callable(render) else str(url)
    if "://" not in text:
        return scrub(text)
    return _mask_one_url(text)


def scrub(text: str, *, known: Any = None) -> str:
    """Free text (an error message, a log line) with every secret it shows replaced by ``***``.

    URLs in it are masked as :func:`mask_url` does (a URL ends at white
    space), then DSN ``key=value`` pairs and dict-repr pairs whose key carries
    a secret.  ``known``, a URL (string or object) the text may be about, adds
    its secrets' literal values: a driver that echoes a fragment of a
    connection string in its own words is caught too.
    """
    if not text:
        return text
    if known is not None:
        raw = str(known) if not callable(getattr(known, "render_as_string", None)) else None
        if raw and raw in text:  # e.g. SQLAlchemy's "Could not parse SQLAlchemy URL from string '...'"
            text = text.replace(raw, mask_url(raw))
    out = _TEXT_RE.sub(_mask_match, text)
    if known is not None:
        for secret in secrets_of(known):
            out = out.replace(secret, MASK)
    return out


def secrets_of(url: Any) -> tuple[str, ...]:
    """The literal secrets of ``url`` (as written and decoded), longest first, for :func:`scrub`.

    Values shorter than 4 characters are left out: replacing every ``ab`` of
    a message would destroy it, and such a value is still masked wherever it
    stands in a URL or a ``key=value`` pair.
    """
    if url is None:
        return ()
    render = getattr(url, "render_as_string", None)
    text = render(hide_password=False) if callable(render) else str(url)
    found: set[str] = set()
    _, sep, rest = text.partition("://")
    if sep:
        at = rest.rfind("@")
        if at != -1:
            _, colon, password = rest[:at].partition(":")
            if colon:
                found.update((password, unquote(password)))
        for m in _QUERY_PARAM_RE.finditer(rest):
            if is_secret_key(m["key"]):
                found.update((m["val"], unquote_plus(m["val"])))
            elif unquote_plus(m["key"]).strip().lower() == "options":
                found.update(_pair_values(unquote_plus(m["val"])))
    else:
        found.update(_pair_values(text))
    return tuple(sorted((s for s in found if len(s) >= 4), key=len, reverse=True))


def _pair_values(text: str) -> set[str]:
    values: set[str] = set()
    for m in _PAIR_RE.finditer(text):
        raw = m["val"]
        values.add(raw)
        if raw[:1] in "'\"" and len(raw) >= 2:
            values.add(raw[1:-1])
            values.add(re.sub(r"\\(.)", r"\1", raw[1:-1]))
    return values


def _mask_match(m: re.Match[str]) -> str:
    if m["url"] is not None:
        url, after = m["url"], ""
        opening = m.string[m.start() - 1 : m.start()]
        if opening in ("'", '"') and opening in url:
            # a quoted URL ends at its closing quote (a quote inside stays masked with the rest)
            cut = url.rindex(opening)
            url, after = url[:cut], url[cut:]
        return _mask_one_url(url) + after
    if m["dkey"] is not None:
        return f"{m['dq']}{m['dkey']}{m['dq']}{m['colon']}{_quoted_mask(m['dval'])}"
    return f"{m['key']}{m['eq']}{_quoted_mask(m['val'])}"


def _quoted_mask(value: str) -> str:
    if value.startswith(MASK) and not value[len(MASK) :].strip(_AFTER_MASK):
        return value  # masked already (a message built with mask_url, scrubbed again on its way out)
    quote_char = value[:1]
    return f"{quote_char}{MASK}{quote_char}" if quote_char in ("'", '"') else MASK


def _mask_one_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        return scrub(url)
    at = rest.rfind("@")
    if at != -1:
        user, colon, _password = rest[:at].partition(":")
        if colon:
            rest = f"{user}:{MASK}{rest[at:]}"
    return f"{scheme}://{_QUERY_PARAM_RE.sub(_mask_query_param, rest)}"


def _mask_query_param(m: re.Match[str]) -> str:
    key, value = m["key"], m["val"]
    if is_secret_key(key):
        value = _quoted_mask(value) if value.startswith(MASK) else MASK
    elif unquote_plus(key).strip().lower() == "options":
        decoded = unquote_plus(value)
        scrubbed = _PAIR_RE.sub(lambda p: f"{p['key']}{p['eq']}{_quoted_mask(p['val'])}", decoded)
        if scrubbed != decoded:
            value = quote(scrubbed, safe="-_.=*'")
    return f"{m['sep']}{key}={value}"


def error_line(exc: BaseException, *, known: Any = None) -> str:
    """The first line of a (driver) error, scrubbed: what a message, a log line or a ledger row shows.

    The driver's own exception (SQLAlchemy's ``.orig``) is preferred to the
    wrapper, whose text appends the statement and its parameters.
    """
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return scrub(text.splitlines()[0] if text else type(exc).__name__, known=known)
