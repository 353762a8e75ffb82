"""Passwords out of everything the pipelines show: logs, MLflow parameters, tags and descriptions.

A database source is a URL (``postgresql://user:password@host/db``); wherever such a string is
printed, logged or recorded, its password is replaced by ``***`` (:func:`redact`), the way
SQLAlchemy's ``render_as_string(hide_password=True)`` shows it.
"""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<password>[^@\s/]+)@")


def redact(text):
    """``text`` with the password of every URL in it replaced by ``***`` (non-strings pass
    unchanged).
    """
    if not isinstance(text, str) or "://" not in text:
        return text
    return _USERINFO.sub(lambda m: f"{m.group('head')}***@", text)
