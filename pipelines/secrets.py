"""Passwords out of everything the pipelines show or store: logs, MLflow, Prefect's parameters.

A database source is a URL (``postgresql://user:password@host/db``). Wherever such a string is
printed, logged or recorded, its password is replaced by ``***`` (:func:`redact`), the way
SQLAlchemy's ``render_as_string(hide_password=True)`` shows it.

Prefect stores every flow run's parameters (its UI and database show them), so a password must
not be a parameter at all: a URL names it by reference, resolved only when the connection is made
(:func:`resolve`):

- ``${VAR}``: the environment variable ``VAR`` of the process that connects;
- ``{{ prefect.blocks.secret.NAME }}``: the Prefect ``Secret`` block ``NAME`` (Prefect's own
  template syntax), read from the Prefect API the flow runs against.

A PostgreSQL URL may also leave the password out: the drivers read ``PGPASSWORD`` or
``~/.pgpass``. The ``forecast`` command moves a literal password of ``--data``/``--sql-url`` into
a variable of its own process before the flow starts (:func:`by_reference`, with a warning) and
refuses one in a URL that other programs read (``--tracking-uri``, ``--study-storage``).
"""

from __future__ import annotations

import os
import re
from urllib.parse import quote, unquote

_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<password>[^@\s/]+)@")
_ENV = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}")
_BLOCK = re.compile(r"\{\{\s*prefect\.blocks\.secret\.(?P<name>[A-Za-z0-9_-]+)\s*\}\}")
# Flow parameters that hold URLs: those the pipelines resolve themselves, and those read by MLflow
# or Optuna (which cannot resolve a reference: a password there is refused).
RESOLVED = {"data": "--data", "sql_url": "--sql-url"}
NOT_RESOLVED = {"tracking_uri": "--tracking-uri", "study_storage": "--study-storage"}
ADVICE = (
    "name it by reference instead: postgresql://user:${VAR}@host/db (an environment variable) or "
    "postgresql://user:{{ prefect.blocks.secret.NAME }}@host/db (a Prefect Secret block), or "
    "leave it out and set PGPASSWORD"
)


def _is_reference(text):
    return bool(_ENV.fullmatch(text) or _BLOCK.fullmatch(text))


def redact(text):
    """``text`` with the password of every URL in it replaced by ``***`` (non-strings pass
    unchanged); a reference (``${VAR}``, ``{{ prefect.blocks.secret.NAME }}``) stays visible.
    """
    if not isinstance(text, str) or "://" not in text:
        return text

    def hide(m):
        shown = m.group("password") if _is_reference(m.group("password")) else "***"
        return f"{m.group('head')}{shown}@"

    return _USERINFO.sub(hide, text)


def password(url):
    """The literal password of ``url`` (None if it has none or names it by reference)."""
    m = _USERINFO.search(url) if isinstance(url, str) else None
    if m is None or _is_reference(m.group("password")):
        return None
    return m.group("password")


def resolve(url, environ=None):
    """``url`` with its references replaced by their values, percent-encoded (so a password may
    hold ``@``, ``/`` or ``:``). Call it only where the connection is made: the result holds the
    secret. Raises ValueError naming a variable that is not set or a Secret block
    that cannot be read."""
    if not isinstance(url, str) or ("${" not in url and "{{" not in url):
        return url
    environ = os.environ if environ is None else environ

    def from_env(m):
        name = m.group("name")
        if name not in environ:
            raise ValueError(
                f"{redact(url)} names the environment variable {name}, which is not set in this "
                f"process (set it where the flow runs)"
            )
        return quote(environ[name], safe="")

    expanded = _ENV.sub(from_env, url)
    return _BLOCK.sub(lambda m: quote(_block_value(m.group("name"), url), safe=""), expanded)


def _block_value(name, url):
    from prefect.blocks.system import Secret  # only when a URL names a block

    try:
        value = Secret.load(name, _sync=True).get()
    except Exception as exc:  # noqa: BLE001 - Prefect's "not found" errors vary: say which block
        raise ValueError(
            f"{redact(url)} names the Prefect Secret block {name!r}, which could not be read "
            f"({type(exc).__name__}: {exc}); create it with "
            f"`Secret(value=...).save({name!r})` on the Prefect API the flow runs against"
        ) from None
    return str(value)


def by_reference(url, variable, flag="--data", environ=None):
    """(url, warning): a literal password of ``url`` moved into the environment variable
    ``variable`` of this process (``environ``) and replaced by ``${variable}``; the warning says
    so (None when the URL had no literal password)."""
    secret = password(url)
    if secret is None:
        return url, None
    environ = os.environ if environ is None else environ
    base, n = variable, 1
    while environ.get(variable, unquote(secret)) != unquote(secret):  # another URL's password
        n += 1
        variable = f"{base}_{n}"
    environ[variable] = unquote(secret)
    m = _USERINFO.search(url)
    moved = url[: m.start("password")] + "${" + variable + "}" + url[m.end("password") :]
    return moved, (
        f"{flag} holds a literal password, which Prefect would store with the flow run's "
        f"parameters: it is passed as ${{{variable}}}, set in this process only. Next time, "
        f"{ADVICE}"
    )


def refuse_literal(url, flag):
    """Raise ValueError naming ``flag`` when ``url`` (read by MLflow or Optuna, which resolve no
    reference) holds a literal password."""
    if password(url) is not None:
        raise ValueError(
            f"{flag} {redact(url)} holds a literal password, which Prefect would store with the "
            f"flow run's parameters; leave it out of the URL and give it to the driver "
            f"(PGPASSWORD or ~/.pgpass for PostgreSQL), or point {flag} at a server that holds "
            f"the database URL (an MLflow tracking server: http://host:port)"
        )


def parameters_by_reference(params, environ=None):
    """(params, warnings): flow parameters (or a configuration section: ``data`` flat or under
    ``source``) with no literal password left: those of ``data`` and ``sql_url`` moved into
    variables of this process (:func:`by_reference`); one in ``tracking_uri`` or
    ``study_storage`` raises ValueError (:func:`refuse_literal`)."""
    out, warnings = dict(params), []
    for key, flag in NOT_RESOLVED.items():
        if isinstance(out.get(key), str):
            refuse_literal(out[key], flag)
    for key, flag in RESOLVED.items():
        variable = f"FORECAST_{key.upper()}_PASSWORD"
        if isinstance(out.get(key), str):
            out[key], warning = by_reference(out[key], variable, flag, environ)
            warnings.append(warning)
    source = out.get("source")
    data = getattr(source, "data", None) if not isinstance(source, dict) else source.get("data")
    if isinstance(data, str):
        moved, warning = by_reference(data, "FORECAST_DATA_PASSWORD", "--data", environ)
        if warning:
            out["source"] = (
                {**source, "data": moved}
                if isinstance(source, dict)
                else source.model_copy(update={"data": moved})
            )
            warnings.append(warning)
    return out, [w for w in warnings if w]
