"""The fuzz property: run a generated :class:`~fuzz_inputs.Case` through every entry point and
judge each outcome against what the case expects (:class:`~fuzz_faults.Expect`).

Operations: ``fit`` (``RNNForecaster``, or ``AutoRNNForecaster`` with tiny settings),
``predict``, ``predict(df)``, ``predict_at``, ``save/load``, ``backtest`` and the forecast flow's
data step (``pipelines.io.standard_columns`` -> ``pipelines.data_tasks.check_data``, called as a
plain function: no Prefect run starts).

Each operation gives one :class:`Outcome` with ``status``:

- ``answer``: it answered, and every check passed (finite, the right series, at the timestamps
  that continue each series, ``horizon`` rows each, within the scale of each series' values);
- ``refused``: a ValueError/TypeError raised by a ``raise`` statement of ``forecast/`` or
  ``pipelines/``, of a case that may be refused, whose message names the planted fault;
- ``fault``, with its kind: a refusal of an input that must be answered, a refusal naming
  something else than the planted fault, an answer to an input that must be refused, an answer
  that fails a check, or an exception that is not ours (raised inside pandas/numpy/torch, by C
  code called from our line, or of another type).
"""

from __future__ import annotations

import ast
import functools
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from fuzz_checks import check_backtest, check_forecast, check_origins, same_answer

from forecast import RNNForecaster, backtest

ROOT = Path(__file__).resolve().parents[2]
OURS = (ROOT / "forecast", ROOT / "pipelines")
AUTO_SPACE = {"cell": "gru", "bidirectional": False, "hidden_size": 4, "num_layers": 1,
              "window_norm": "last", "learning_rate": 1e-2}  # fmt: skip


@dataclass
class Outcome:
    op: str
    status: str  # answer | refused | fault
    expect: str  # answer | either | refuse
    kind: str = ""  # a fault's kind (one line)
    message: str = ""  # the exception's first line, or the failed check
    where: str = ""  # module:function that raised
    seconds: float = 0.0


def run_case(case, flow=True):
    """[Outcome] of every operation the case's recipe asks for (fit and predict always)."""
    out, ops = [], case.recipe.ops
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp:
        warnings.simplefilter("ignore")
        model, fc = _fit_predict(case, out)
        if model is not None:
            _op(out, "predict(df)", case, lambda: _predict_history(case, model, fc))
            if case.origins is not None:
                _op(out, "predict_at", case, lambda: _predict_at(case, model))
            if "save_load" in ops:
                path = Path(tmp) / "model"
                _op(out, "save/load", case, lambda: _save_load(case, model, fc, path))
        renamed = "renamed" in case.recipe.extras
        if "backtest" in ops and case.recipe.model == "rnn" and not renamed:
            _op(out, "backtest", case, lambda: _backtest(case))  # (standard column names only)
        if flow and "flow" in ops and case.recipe.kind == "long" and case.recipe.model == "rnn":
            _op(out, "flow", case, lambda: _flow(case, model))
    return out


def _fit_predict(case, out):
    holder = {}

    def fit():
        holder["model"] = _estimator(case).fit(case.data, **case.fit_kwargs)

    _op(out, "fit", case, fit)
    if "model" not in holder or out[-1].status != "answer":
        return None, None

    def predict():
        holder["fc"] = holder["model"].predict(X_future=case.x_future)
        check_forecast(case, holder["fc"])

    _op(out, "predict", case, predict)
    return (holder["model"], holder["fc"]) if "fc" in holder else (None, None)


def _estimator(case):
    if case.recipe.model == "rnn":
        return RNNForecaster(**case.params)
    from forecast import AutoRNNForecaster

    p = case.params
    fixed = {k: p[k] for k in ("max_epochs", "windows_per_epoch", "batch_size", "device", "fill")}
    return AutoRNNForecaster(
        horizon=p["horizon"], n_trials=1, max_time=10.0, pruner=None, seed=case.recipe.seed % 97,
        space={**AUTO_SPACE, "lookback": p["lookback"]}, fixed=fixed,
    )  # fmt: skip


def _op(out, name, case, fn):
    """Run ``fn`` and judge it against ``case.expect[name]``."""
    expect = case.expect[name]
    started = time.perf_counter()
    try:
        problem = fn()
    except AssertionError as exc:  # a check of the answer failed
        outcome = Outcome(name, "fault", expect.level, f"{name}: bad answer", _line(exc))
    except Exception as exc:  # noqa: BLE001 -- every exception is judged
        outcome = judge_exception(name, expect, exc)
    else:
        if problem:
            outcome = Outcome(name, "fault", expect.level, f"{name}: bad answer", str(problem))
        elif expect.level == "refuse":
            why = "; ".join(expect.why)[:200]
            outcome = Outcome(name, "fault", expect.level, f"{name}: answered an input it must "
                              f"refuse", why)  # fmt: skip
        else:
            outcome = Outcome(name, "answer", expect.level)
    outcome.seconds = time.perf_counter() - started
    out.append(outcome)


def judge_exception(name, expect, exc):
    """The :class:`Outcome` of ``exc``: ours (where it was raised, its type) and right (the case
    may be refused, and the message names the planted fault), or a fault of its kind."""
    where, ours = origin(exc)
    message, kind = _line(exc), type(exc).__name__
    if not ours:
        return Outcome(name, "fault", expect.level, f"{name}: {kind} {where}", message, where)
    if not isinstance(exc, (ValueError, TypeError)):
        return Outcome(name, "fault", expect.level, f"{name}: {kind} from {where}", message, where)
    if expect.level == "answer":
        return Outcome(name, "fault", expect.level, f"{name}: refused a valid input at {where}",
                       message, where)  # fmt: skip
    if not expect.matches(str(exc)):
        return Outcome(name, "fault", expect.level, f"{name}: refusal names other than the "
                       f"planted fault ({'; '.join(expect.why)[:80]}) at {where}", message,
                       where)  # fmt: skip
    return Outcome(name, "refused", expect.level, "", message, where)


def origin(exc):
    """(where, ours): ``module:function`` of the innermost frame of ``exc``'s traceback, and
    whether a ``raise`` statement of our own code raised it there (an error from C code called
    on one of our lines has our frame innermost, but no raise)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?", False
    last = frames[-1]
    path = Path(last.filename)
    for root in OURS:
        if path.is_relative_to(root):
            where = f"{root.name}/{path.relative_to(root)}:{last.name}"
            if last.lineno in _raise_lines(str(path)):
                return where, True
            return f"in C code called at {where}:{last.lineno}", False
    parts = path.parts  # site-packages/<package>/..., or a Cython module's <package>/....pyx
    package = parts[parts.index("site-packages") + 1] if "site-packages" in parts else parts[0]
    return f"in {package}:{last.name}", False


@functools.cache
def _raise_lines(path):
    """Every line of a ``raise`` statement of the module at ``path``."""
    tree = ast.parse(Path(path).read_text())
    return frozenset(
        line
        for node in ast.walk(tree)
        if isinstance(node, ast.Raise)
        for line in range(node.lineno, node.end_lineno + 1)
    )


def _line(exc):
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


# ------------------------------------------------------------------------------------ operations
def _predict_history(case, model, fc):
    again = model.predict(case.data, X_future=case.x_future)
    check_forecast(case, again)
    same_answer(fc, again, "predict(df) of the fit data")


def _predict_at(case, model):
    check_origins(case, model.predict_at(case.data, case.origins))


def _save_load(case, model, fc, path):
    model.save(path)
    again = type(model).load(path).predict(X_future=case.x_future)
    check_forecast(case, again)
    same_answer(fc, again, "predict() after save/load")


def _backtest(case):
    result = backtest(
        RNNForecaster(**case.params), case.data, n_windows=case.recipe.n_windows,
        refit=case.recipe.refit,
    )  # fmt: skip
    check_backtest(case, result)


def _flow(case, model):
    """The forecast flow's data step on the case's frame, as if read from a file."""
    from pipelines import io
    from pipelines.data_tasks import check_data
    from pipelines.parameters import Source

    d, p = case.design, case.params
    raw = io.standard_columns(
        case.data.copy(), "data file fuzz.csv", "fuzz", d.id_col, d.time_col, d.target_col
    )
    source = Source(data="fuzz.csv", id_col=d.id_col, time_col=d.time_col, target_col=d.target_col)
    columns = [*p.get("past_covariates", ()), *p.get("future_covariates", ()),
               *p.get("static_covariates", ())]  # fmt: skip
    history, _ = check_data.fn(
        raw, source, columns, p["fill"], p.get("future_covariates", ()), model=model
    )
    y = history.frame["y"].to_numpy(np.float64)
    assert np.isfinite(y).all(), "non-finite targets passed validation"
    assert set(history.freqs) == set(history.frame["unique_id"]), "frequencies of other series"
    return None if isinstance(history.frame, pd.DataFrame) else "no frame"
