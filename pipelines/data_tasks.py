"""The data step of every flow: set the future rows aside and check the history, in one library
call.

``check_data`` is the flows' one check (``forecast.data.history.check_history``): the frame is
validated once, its frequencies are inferred once and travel with it (``History.freqs``) to the
train job's windows and to the comparison with a registered model's series.
"""

from __future__ import annotations

from prefect import task

from forecast.data import history as histories
from forecast.data.columns import ID

from .environment import run_logger
from .future import split_future
from .parameters import Source
from .retries import compute_options


@task(name="validate-data", **compute_options())
def check_data(raw, source: Source, columns=(), fill=None, future_columns=(), model=None):
    """(``History``, future rows): the trailing rows of each series whose target is still missing
    are set aside (``future_columns``: the covariates they carry, :func:`set_future_aside`), the
    rest is validated with its covariate ``columns`` under the source's column names; with a
    fitted ``model``, its columns and ``fill`` are used and its series and frequencies must
    match."""
    if model is not None:
        columns, fill, future_columns = model_columns(model), model.fill, model.layout_.future
    names = histories.column_names(source.id_col, source.time_col, source.target_col)
    past, future = set_future_aside(raw, future_columns, names)
    fitted = None if model is None else model.state_
    return histories.check_history(past, columns, fill, names, fitted=fitted), future


def set_future_aside(df, future_columns=(), names=None):
    """(history, future): the trailing rows of each series whose target is still missing are the
    future, carrying the future covariates' values for the horizon
    (``pipelines.future.split_future``; ``names``: the user's column names, for its messages)."""
    history, future = split_future(df, list(future_columns), names=names)
    if len(future) and not future_columns:
        run_logger().warning(
            "%d trailing row(s) of %d series have no target yet and the model reads no future "
            "covariates: ignored; forecasts start after each series' last observed value",
            len(future),
            future[ID].nunique(),
        )
    elif len(future):
        run_logger().info(
            "%d future row(s) of %d series (target not yet observed) set aside from the history",
            len(future),
            future[ID].nunique(),
        )
    return history, future


def model_columns(estimator):
    """The data columns a fitted model reads besides [unique_id, ds, y] (its covariates)."""
    layout = getattr(estimator, "layout_", None)
    return [*layout.past, *layout.future, *layout.static] if layout is not None else []


def split_holdout(df, horizon):
    """Everything but the last ``horizon`` points of each series: the data model selection sees."""
    keep = df.groupby(ID, sort=False).cumcount(ascending=False) >= horizon
    return df.loc[keep].reset_index(drop=True)


# The checks one at a time, on a frame already renamed (tests/core/fuzz_oracle.py drives them).
column_names = histories.column_names


@task(name="validate-frame", **compute_options())
def validate_data(df, min_length=1, columns=(), names=None, fill=None):
    """``check_history``'s frame: sorted [unique_id, ds, y, *columns], or the error naming the
    fault.
    """
    return histories.check_history(df, columns, fill, names, min_length).frame


@task(name="check-matches-model", **compute_options())
def check_matches_model(df, estimator):
    """Refuse a validated frame whose series or frequency differ from the model's."""
    histories.check_matches(histories.check_history(df), estimator.state_)
