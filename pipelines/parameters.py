"""The flows' parameter types, and :class:`Source`: the data source every flow reads, one model.

Prefect validates flow parameters against these hints at the flow boundary
(``Flow.validate_parameters``), so a bad cell name or a negative horizon fails before any work,
and renders a ``BaseModel`` parameter as one form. The choice lists are the library's own
(``forecast.choices``). Nothing here imports prefect or mlflow.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from forecast import choices
from forecast.tuning.space import SPACES

from . import io
from .secrets import redact

Cell = Literal[choices.CELLS]
Head = Literal[choices.HEADS]
Metric = Literal[choices.RANKING_METRICS]
Format = Literal[io.FORMATS]
Fill = Literal[choices.FILLS]  # None: a NaN target is an error
Scaler = Literal[choices.SCALERS]
WindowNorm = Literal[choices.names(choices.WINDOW_NORMS)]  # "none": TOML has no null
Loss = Literal[choices.LOSSES]
SEARCHES = ("grid", "optuna")  # model selection: the candidate grid, or an Optuna search
Search = Literal[SEARCHES]
SearchSpace = Literal[SPACES]  # the library's named spaces: "compact" | "full"
Positive = Annotated[int, Field(ge=1)]
PositiveFloat = Annotated[float, Field(gt=0)]
Seconds = Annotated[float, Field(ge=0)]
Name = Annotated[str, Field(min_length=1)]
NonEmpty = Field(min_length=1)  # a list with at least one element
Quantile = Annotated[float, Field(gt=0, lt=1)]
Percent = Annotated[float, Field(gt=0, lt=100)]  # an interval level


class Source(BaseModel):
    """Where the data is and how its columns are named: a bundled data set, a CSV/Parquet path or
    a SQLAlchemy URL (with ``table``); the id/time/target columns are renamed on load, and a
    file without the id column is one series named after the file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: Name = "airpassengers"
    table: str | None = None
    id_col: Name = "unique_id"
    time_col: Name = "ds"
    target_col: Name = "y"

    def __repr_args__(self):  # a database password never reaches a log line or the UI's repr
        return [(k, redact(v)) for k, v in super().__repr_args__()]

    @field_serializer("data", when_used="json")
    def _stored(self, data):
        """Prefect stores a flow run's parameters as JSON (its UI and database show them): a
        literal password is hidden there; the flow itself gets the object, password and all.
        Pass passwords by reference (``pipelines.secrets``) so that runs made from stored
        parameters (deployments) can connect too."""
        return redact(data)

    def model_name(self):
        """The registered model of this data when none is named: :func:`model_name_for`."""
        return model_name_for(self.data, self.table)


MODEL_PREFIX = "forecaster"
FIELDS = tuple(Source.model_fields)  # data, table, id_col, time_col, target_col


def source_of(params):
    """``params`` (plain keys, e.g. from the CLI or TOML) with the :class:`Source` fields gathered
    under ``"source"`` as a dict (merged into one already there)."""
    found = {k: params[k] for k in FIELDS if k in params}
    rest = {k: v for k, v in params.items() if k not in FIELDS}
    if not found:
        return rest
    given = rest.get("source") or {}
    given = given.model_dump() if isinstance(given, BaseModel) else dict(given)
    return rest | {"source": given | found}


COLUMN_FIELDS = ("id_col", "time_col", "target_col")


def column_fields(source):
    """{field: name} of ``source``'s id/time/target columns (what a registered model remembers)."""
    return {f: getattr(source, f) for f in COLUMN_FIELDS}


def as_trained(source, trained, present):
    """``source`` with each id/time/target name the user left at its default taken from
    ``trained`` ({field: the name at training}) where the data (its column names ``present``)
    lacks the default and has the trained name: a model trained on a file with its own column
    names forecasts that file again without the column flags. A name given, or found, stays."""
    default, changes = Source(), {}
    for field in COLUMN_FIELDS:
        given, name = getattr(source, field), trained.get(field)
        unset = given == getattr(default, field)
        if name and unset and given not in present and name in present:
            changes[field] = name
    return source.model_copy(update=changes) if changes else source


def model_name_for(data, table=None):
    """The registered model a flow uses when none is named: ``forecaster-<data name>``.

    The data name is a bundled set's name (``forecaster-airpassengers``), a file's name without
    its suffixes (``forecaster-sales`` for ``/data/sales.csv.gz``) or a SQL table's name; characters
    other than letters, digits, ``.``, ``_`` and ``-`` become ``-``. So ``forecast train --data X``
    then ``forecast forecast --data X`` meet the same model for any X, and another data set never
    competes with it for the champion alias. Two files of the same name in different folders share
    a model name: their series differ, so the second is registered but never promoted over the first
    (``registry.register_and_promote``); name one with ``--model-name``.
    """
    text = str(data)
    kind = io.source_kind(text)
    if kind == "sql":
        name = str(table or "table")
    elif kind == "dataset":
        name = text.strip().lower().replace("-", "_")
    else:
        name = Path(text).name.split(".")[0] or "data"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "data"
    return f"{MODEL_PREFIX}-{slug[:80]}"
