"""The flows' I/O tasks: the tracking store, the data, the registered model, the forecasts written.

Each is one call into :mod:`pipelines.io`, :mod:`pipelines.store` or :mod:`pipelines.registry`,
retried with backoff on transient errors (:mod:`pipelines.retries`). Data loading is cached on
the data's content (bundled set + file stats, file bytes), so a retrain or forecast over
unchanged data reads it once.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
from prefect import task

from forecast.data.columns import ID
from forecast.data.history import renamed

from . import io, orphans, registry, store
from .environment import run_logger
from .parameters import Source, as_trained, column_fields
from .retries import BACKOFF, IO_RETRIES, io_options, transient


def data_cache_key(context, parameters):
    """Cache key of ``load_data``: the data's content (None: not cacheable, e.g. SQL tables)."""
    source = Source.model_validate(parameters["source"])
    key = io.content_key(source.data, source.table)
    columns = [source.id_col, source.time_col, source.target_col]
    return None if key is None else f"{key}|table={source.table}|columns={columns}"


@task(
    name="load-data",
    retries=IO_RETRIES,
    retry_delay_seconds=BACKOFF,
    retry_jitter_factor=0.5,
    retry_condition_fn=transient,
    cache_key_fn=data_cache_key,
    cache_expiration=timedelta(days=1),
)
def load_data(source: Source) -> pd.DataFrame:
    """Read a bundled set, a CSV/Parquet file or a SQL table as a long frame [unique_id, ds, y,
    ...].
    """
    s = Source.model_validate(source)
    df = io.load_frame(s.data, s.table, s.id_col, s.time_col, s.target_col)
    run_logger().info("loaded %s: %d rows, %d series", io.redact(s.data), len(df), df[ID].nunique())
    return df


@task(name="load-future", **io_options())
def load_future(path, estimator, source: Source):
    """The model's future covariates for the horizon from a CSV/Parquet file."""
    future, ids = list(estimator.layout_.future), list(estimator.ids_)
    return io.load_future(path, future, ids, source.id_col, source.time_col)


@task(name="configure-tracking", **io_options())
def configure_tracking(uri, experiment):
    """Point MLflow at ``uri`` (None: the local store); fails fast naming the URI when unreachable.
    Runs left RUNNING there by dead processes of this host are ended FAILED
    (``pipelines.orphans``)."""
    cfg = store.configure(uri, experiment=experiment, required=True)
    orphans.close_orphans(store.client(), cfg.experiment_id)
    run_logger().info("MLflow tracking at %s, experiment %r", cfg.uri, experiment)
    return cfg.uri


@task(name="load-model", **io_options())
def load_model(model_name, version=None):
    """The registered champion (or ``version``): (RNNForecaster, version)."""
    try:
        return registry.load_champion(model_name, version)
    except Exception as exc:  # MLflow's "not found" errors carry no useful type: say what was asked
        if "RESOURCE_DOES_NOT_EXIST" in str(exc) or "not found" in str(exc).lower():
            what = f"version {version}" if version is not None else f"alias {registry.CHAMPION!r}"
            raise LookupError(
                f"registered model {model_name!r} has no {what}; run `forecast train` first"
            ) from exc
        raise


@task(name="write-forecasts", **io_options())
def write_forecasts(fc, out_dir, stamp, fmt="parquet", names=None):
    """Atomically write ``out_dir/<stamp>/forecasts.<fmt>``; returns the path as a string.

    ``names`` ({internal: the data's name}, ``History.names``): the file uses the data's own id
    and time column names.
    """
    return str(io.write_forecasts(renamed(fc, names), out_dir, stamp, fmt))


@task(name="write-sql", **io_options())
def write_sql(fc, url, table, names=None):
    return io.write_sql(renamed(fc, names), url, table)


@task(name="column-names", **io_options())
def columns_as_trained(source: Source, model_name, version=None) -> Source:
    """``source`` with the id/time/target names the user left unset taken from the ones the
    registered ``version`` (None: the champion) was trained on, where the data has those and not
    the defaults (``parameters.as_trained``): a model trained with ``--id-col store`` forecasts
    the same file without the flag again."""
    s = Source.model_validate(source)
    trained = registry.trained_columns(model_name, version)
    if not trained:
        return s
    resolved = as_trained(s, trained, io.columns_of(s.data, s.table) or ())
    if resolved != s:
        run_logger().info("column names as the model was trained: %s", column_fields(resolved))
    return resolved
