"""Data in and forecasts out: the only file-system and database I/O of the pipelines.

Sources are named by one string: a bundled data set (``airpassengers``), a CSV or Parquet path,
or a SQLAlchemy URL together with a table name (its password named by reference, resolved only
when the connection is made: :func:`pipelines.secrets.resolve`). Every loader returns the
library's long frame ``[unique_id, ds, y, <covariates>]``. Forecasts are written atomically
(temporary file, then ``os.replace``) into a folder partitioned by run time, so a failed run never
leaves a partial file and never touches earlier runs' files.
"""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from forecast.data import history
from forecast.data.columns import ID, TARGET, TIME
from forecast.datasets import bundled as datasets

from . import secrets

FORMATS = ("parquet", "csv")
COLUMN_FLAGS = "name yours with --id-col, --time-col, --target-col"
_SUFFIXES = {".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet", ".pq": "parquet"}


def source_kind(source):
    """``"dataset"`` | ``"sql"`` | ``"file"`` for a source string."""
    if "://" in source:
        return "sql"
    if source.strip().lower().replace("-", "_") in set(datasets.list_datasets()["name"]):
        return "dataset"
    return "file"


def load_frame(source, table=None, id_col=ID, time_col=TIME, target_col=TARGET):
    """Read ``source`` as a long frame [unique_id, ds, y, ...].

    A file or table whose columns have other names is read with ``id_col``/``time_col``/
    ``target_col`` (renamed to the standard names on load). Without an id column (and
    ``id_col`` left at its default) the source is one series named after the file stem or table.

    Raises FileNotFoundError (naming the path) for a missing file and ValueError for an unknown
    suffix, a SQL source without a table, or missing columns (naming those expected and found).
    """
    kind = source_kind(source)
    if kind == "dataset":
        return datasets.load(source)
    if kind == "sql":
        df = _read_sql(source, table)
        where, series = f"table {table!r} at {redact(source)}", table
    else:
        path = Path(source).expanduser()
        df = _read_file(path)
        where, series = f"data file {source}", path.name.split(".")[0]
    return standard_columns(df, where, series, id_col, time_col, target_col)


def standard_columns(df, where, series, id_col=ID, time_col=TIME, target_col=TARGET, **kwargs):
    """``forecast.data.history.standard_columns``: the user's columns renamed to [unique_id, ds, y],
    ``ds`` parsed; a missing column's error says which flags name them."""
    return history.standard_columns(
        df, where, series, id_col, time_col, target_col, hint=COLUMN_FLAGS, **kwargs
    )


def load_future(source, columns, ids, id_col=ID, time_col=TIME):
    """Read a CSV/Parquet file of future covariate values: [unique_id, ds, *columns] for the
    horizon.

    The columns are renamed like :func:`load_frame`'s; a file without an id column is accepted
    for a model of one series (``ids`` has one element) and given that series' id.
    """
    df = _read_file(Path(source).expanduser(), "future data")
    single = id_col not in df.columns and len(ids) == 1
    where = f"future data file {source}"
    series = ids[0] if single else None
    df = standard_columns(df, where, series, id_col, time_col, None, columns=columns, single=single)
    return df[[ID, TIME, *columns]]


def check_source(source, what="data"):
    """Raise the loader's error for a data source that cannot be read (a missing file, a folder, an
    unknown bundled name) without reading anything: the CLI calls it before Prefect starts."""
    if source_kind(source) != "file":
        return
    path = Path(source).expanduser()
    if not path.exists() and not path.suffix and os.sep not in source:
        raise FileNotFoundError(
            f"{what} {source!r} is neither a bundled data set "
            f"{sorted(datasets.list_datasets()['name'])} nor an existing file"
        )
    check_file(path, what)


def check_file(path, what="data"):
    """A readable file at ``path``, or an error naming it (a folder, or nothing there)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise IsADirectoryError(f"{what} path {path} is a folder; give a CSV or Parquet file in it")
    if not path.is_file():
        raise FileNotFoundError(f"{what} file {path} does not exist")


def columns_of(source, table=None):
    """The column names of ``source`` read without its rows (a CSV's header, a Parquet schema, a
    table's definition; a bundled set: the standard names), or None when they cannot be read
    (the loader then raises its own error)."""
    kind = source_kind(source)
    if kind == "dataset":
        return [ID, TIME, TARGET]
    try:
        if kind == "sql":
            import sqlalchemy

            engine = _engine(source)
            try:
                return [c["name"] for c in sqlalchemy.inspect(engine).get_columns(table)]
            finally:
                engine.dispose()
        path = Path(source).expanduser()
        if _format_of(path) == "parquet":
            import pyarrow.parquet

            return list(pyarrow.parquet.read_schema(path).names)
        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except Exception:  # noqa: BLE001 - unreadable here: load_frame names the fault
        return None


def _read_file(path, what="data"):
    check_file(path, what)
    fmt = _format_of(path)
    return pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)


def _format_of(path):
    name = path.name.lower()
    for suffix, fmt in _SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    raise ValueError(
        f"data file {path}: unknown format; use one of {sorted(_SUFFIXES)} or a bundled data set "
        f"{sorted(datasets.list_datasets()['name'])}"
    )


def _read_sql(url, table):
    if not table:
        raise ValueError(f"SQL source {redact(url)} needs a table name (--table)")
    engine = _engine(url)
    try:
        return pd.read_sql_table(table, engine)
    finally:
        engine.dispose()


def _engine(url):
    """A SQLAlchemy engine for ``url``, its password references resolved here and nowhere
    earlier (the resolved URL is never logged, returned or stored)."""
    import sqlalchemy  # installed with the pipelines extra (Prefect depends on it)

    return sqlalchemy.create_engine(secrets.resolve(url))


def redact(url):
    """A URL (or any text holding URLs) with its passwords hidden, for messages and logs."""
    return secrets.redact(url)


def content_key(source, table=None):
    """A key that changes whenever the data behind ``source`` changes; None means "do not cache".

    Bundled sets: name + size and mtime of their files. Files: SHA-256 of the bytes. SQL tables
    have no cheap checksum, so they are never cached.
    """
    kind = source_kind(source)
    if kind == "sql":
        return None
    if kind == "dataset":
        row = (
            datasets.list_datasets().set_index("name").loc[source.strip().lower().replace("-", "_")]
        )
        stats = []
        for name in row["files"].split(", "):
            path = datasets.data_dir() / name
            st = path.stat() if path.exists() else None
            stats.append(f"{name}:{st.st_size}:{st.st_mtime_ns}" if st else f"{name}:missing")
        return f"dataset:{row.name}:" + ",".join(stats)
    path = Path(source).expanduser()
    if not path.is_file():
        return None  # let the loader raise its own clear error, uncached
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"file:{digest.hexdigest()}"


def run_stamp(when=None):
    """Partition name for a run time, e.g. ``run=20261123T130512.048213Z`` (UTC, microseconds so
    that two runs in the same second never share a folder)."""
    when = when or datetime.now(timezone.utc)
    return "run=" + when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def write_forecasts(fc, out_dir, stamp, fmt="parquet"):
    """Write ``fc`` to ``out_dir/<stamp>/forecasts.<fmt>`` atomically; return the final path."""
    if fmt not in FORMATS:
        raise ValueError(f"output format must be one of {FORMATS}, got {fmt!r}")
    folder = Path(out_dir).expanduser().resolve() / stamp
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"forecasts.{fmt}"
    tmp = folder / f".{final.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        if fmt == "parquet":
            fc.to_parquet(tmp, index=False)
        else:
            fc.to_csv(tmp, index=False)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        if created and not any(
            folder.iterdir()
        ):  # e.g. a full disk: leave no empty partition behind
            folder.rmdir()
        raise
    return final


def write_sql(fc, url, table):
    """Append ``fc`` to ``table`` in one transaction (all rows or none)."""
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            fc.to_sql(table, conn, if_exists="append", index=False)
    finally:
        engine.dispose()
    return len(fc)
