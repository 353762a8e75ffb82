"""Export a fitted model's whole forecast to one ONNX file (``RNNForecaster.export_onnx``).

The graph (:class:`~forecast.export.graph.ForecastGraph`) takes raw windows in the user's units
and returns the forecast columns of ``predict_at`` in the user's units. What it expects and
returns is written into the file's ``metadata_props`` under :data:`METADATA_KEY` as JSON (input
and output names, shapes, dtypes, units, the series order), which onnxruntime shows as
``session.get_modelmeta().custom_metadata_map``; :func:`read_metadata` reads it back.

onnx and onnxscript (the ``serving`` extra, with onnxruntime to run the file) are imported
inside functions only, so ``import forecast`` never needs them.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from forecast.checks import check_quantiles
from forecast.export.graph import ForecastGraph
from forecast.export.recurrent import OPSET, translation, wrap_recurrent
from forecast.probabilistic.decoder import Decoder

METADATA_KEY = "forecast"
FORMAT = 1
EXAMPLE_BATCH = 2  # torch.export specialises a dimension traced at size 0 or 1
REFUSED = {
    "student_t": "its quantiles are the Student t inverse CDF at each step's fitted degrees of "
    "freedom, which no ONNX operator computes; fit with loss='normal' or 'pinball'",
    "negative_binomial": "its quantiles are the negative binomial inverse CDF (counts), which no "
    "ONNX operator computes; fit with loss='normal' or 'pinball'",
}


def check_exportable(state, level=None):
    """Refuse by name what the graph cannot compute; returns the interval levels it outputs."""
    family = state.family
    name = getattr(family, "name", None)
    if name in REFUSED:
        raise ValueError(
            f"export_onnx: a model fitted with loss={name!r} cannot be exported: {REFUSED[name]}"
        )
    decoder = Decoder(state)
    channels = () if family is None else (family.n_channels,)
    probe = np.zeros((1, state.horizon, *channels))
    decoder.decode(probe, np.zeros(1, dtype=np.int64), level)  # a bad level fails as in predict
    return decoder.levels(level)


def export(model, path, level=None):
    """Write the forecast graph of a fitted ``RNNForecaster`` to ``path`` (atomically); returns
    ``path``. ``level``: interval levels to output (None: the model's ``level``, as
    ``predict_at``)."""
    state, module = model.state_, model.module_
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"export_onnx: path {str(path)!r} is a folder; give a file name")
    level = model.level if level is None else level
    level = None if level is None else check_quantiles("level", level, (0.0, 100.0))
    levels = check_exportable(state, level)
    _require("onnx", "onnxscript")
    network = wrap_recurrent(copy.deepcopy(module).cpu().float().eval())
    graph = ForecastGraph(state, network, levels).eval()
    args, names = example_inputs(state)
    proto = trace(graph, args, names)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(describe(state, graph, names))
    _write(proto, path)
    return path


def trace(graph, args, names):
    """The ONNX ``ModelProto`` of ``graph`` called on ``args``, with a dynamic batch dimension
    named "batch" on every input and output."""
    batch = torch.export.Dim("batch", min=1)
    with _quiet():
        program = torch.onnx.export(
            graph,
            args,
            dynamo=True,
            opset_version=OPSET,
            custom_translation_table=translation(),
            dynamic_shapes=tuple(None if a is None else {0: batch} for a in args),
            input_names=names,
            output_names=graph.columns,
            optimize=True,  # folds the constant casts onnxruntime would warn about at load
            verbose=False,
        )
    proto = program.model_proto
    ends = [*proto.graph.input, *proto.graph.output]
    symbol = ends[0].type.tensor_type.shape.dim[0].dim_param  # the exporter's name, e.g. "s17"
    for value in [*ends, *proto.graph.value_info]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param == symbol:
                dim.dim_param = "batch"
    return proto


def _write(proto, path):
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        onnx.save_model(proto, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def example_inputs(state, batch=EXAMPLE_BATCH):
    """(args, names) of a batch of ``batch`` windows: the graph's inputs in order (None where the
    model has no such input), and the names of those it has."""
    L, H, layout = state.lookback, state.horizon, state.layout
    ones = {
        "y": torch.ones(batch, L, dtype=torch.float64),
        "series": torch.zeros(batch, dtype=torch.int64),
        "past_covariates": _ones(batch, L, len(layout.past)),
        "future_covariates": _ones(batch, L + H, len(layout.future)),
        "calendar": _ones(batch, L + H, layout.n_calendar),
    }
    return tuple(ones.values()), [k for k, v in ones.items() if v is not None]


def _ones(*shape):
    return torch.ones(*shape, dtype=torch.float64) if shape[-1] else None


def describe(state, graph, names):
    """The metadata written with the graph: what to feed, what comes back, in which units."""
    L, H, layout = state.lookback, state.horizon, state.layout
    target = f"the target {state.spec.target_col!r} in its own units"
    inputs = {
        "y": ([L], "float64", f"{target}, the last {L} values up to the origin, oldest first"),
        "series": ([], "int64", "each window's series: its position in 'series'"),
        "past_covariates": (
            [L, len(layout.past)],
            "float64",
            f"past covariates {list(layout.past)} over the window, in their own units",
        ),
        "future_covariates": (
            [L + H, len(layout.future)],
            "float64",
            f"future-known covariates {list(layout.future)} over the window and the {H} "
            "steps after the origin, in their own units",
        ),
        "calendar": (
            [L + H, layout.n_calendar],
            "float64",
            "calendar features (forecast.data.calendar.calendar_features at frequency "
            f"{layout.calendar!r}) of the window's and the horizon's timestamps",
        ),
    }
    back = ", back through exp()" + (f" - {graph.shift:g}" if graph.shift else "")
    unit = "the forecast of " + target + (back if graph.log else "")
    return {
        "format": FORMAT,
        "lookback": L,
        "horizon": H,
        "series": [str(i) for i in state.ids],
        "id_col": state.spec.id_col,
        "inputs": [_entry(n, *inputs[n]) for n in names],
        "outputs": [_entry(c, [H], "float64", f"{c}: {unit}") for c in graph.columns],
        "levels": list(graph.levels),
        "note": "rows follow the batch; a target <= 0 gives NaN with scaler=('log', ...), "
        "< 0 with ('log1p', ...)",
    }


def _entry(name, shape, dtype, units):
    return {"name": name, "shape": ["batch", *shape], "dtype": dtype, "units": units}


def read_metadata(path):
    """The metadata an exported file carries (:func:`describe`'s dict)."""
    _require("onnx")
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    for entry in proto.metadata_props:
        if entry.key == METADATA_KEY:
            return json.loads(entry.value)
    raise ValueError(f"{path} carries no {METADATA_KEY!r} metadata: not written by export_onnx")


def _require(*packages):
    from importlib.util import find_spec

    missing = [p for p in packages if find_spec(p) is None]
    if missing:
        raise ImportError(
            f"export_onnx needs {missing}: install the 'serving' extra (pip install "
            "'recurrent-forecast[serving]')"
        )


@contextlib.contextmanager
def _quiet():
    """Silence the exporter: its warnings, its log lines and anything it prints."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
