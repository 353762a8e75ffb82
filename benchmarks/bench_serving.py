"""Serving latency (issue 24): one function per measurement, one ``--part`` per half.

``--part onnx``: onnxruntime against torch on CPU for the same batches. For each configuration
a model is trained for a few steps on a generated hourly panel (accuracy is not the point),
exported with ``RNNForecaster.export_onnx``, and the same forecast -- raw windows in, forecast
columns in the user's units out (scaling, window normalisation, network, quantile decoding,
inverse scaling) -- is timed two ways from the same numpy inputs (``forecast.export.onnx_inputs``):

* torch: the module the export traces (``forecast.export.graph.ForecastGraph`` over the trained
  network, as ``predict_at`` runs it), eager, ``torch.no_grad``;
* onnxruntime: ``InferenceSession.run`` on the exported file (CPU provider).

Batches of 1 window (one request, one series) and of 100 windows (100 series), the two
interleaved call by call; p50 / p95 / p99 per configuration. ``--threads`` pins both runtimes to
the same number of intra-op threads (default 1: the reproducible figure on a shared 2-core
machine, and what ``predict`` uses for fewer than 64 windows; the ``server`` and ``predict`` parts
run torch on it too, in the client and in the server, whose ``forecast serve-model`` default is 1).

``--part server``: ``mlflow models serve`` of a temporary store's champion (as ``forecast
serve-model`` runs it), one client POSTing ``dataframe_split`` requests of 1 and 100 series
(``lookback`` rows each) one at a time, interleaved with the same frame through the pyfunc model
and ``predict`` in this process (where the time goes).

``--part server --baseline TREE`` serves the same model a second time from another tree of this
code (e.g. ``git archive <commit> | tar -x -C /tmp/base``), with that tree's defaults, and
interleaves its requests with the first server's: a before/after under the same load.

``--part request``: where one request's time goes, in this process: MLflow's scoring function
(``mlflow.pyfunc.scoring_server.invocations``, everything but the HTTP layer) and its parts
(median CPU / wall ms per part).

``--part predict``: ``RNNForecaster.predict(df)`` alone, in this process, on the same model and
histories (wall and CPU time per call). For a before/after, run it on another tree of the code
as well: ``git archive <commit> | tar -x -C /tmp/base`` and ``PYTHONPATH=/tmp/base python
benchmarks/bench_serving.py --part predict`` (the JSON records which ``forecast`` it ran).

Every row records the load average (``os.getloadavg``) before and after it: on a shared machine
the latencies, p95 and p99 most of all, are only comparable at a similar load.

Usage::

    python benchmarks/bench_serving.py --part onnx            # ~2-4 min on 2 shared cores
    python benchmarks/bench_serving.py --part onnx --quick    # ~1 min
    python benchmarks/bench_serving.py --part server          # ~4-6 min; --quick: ~3 min
    python benchmarks/bench_serving.py --part server --baseline /tmp/base
    python benchmarks/bench_serving.py --part predict         # ~1 min
    python benchmarks/bench_serving.py --part request         # ~2 min
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

CONFIGS = {  # name -> RNNForecaster keywords (horizon, lookback included)
    "lstm-64, direct, es (the defaults), L 48, H 24": dict(
        cell="lstm", hidden_size=64, lookback=48, horizon=24
    ),
    "lstm-64 x2, direct, no norm, L 168, H 24": dict(
        cell="lstm", hidden_size=64, num_layers=2, window_norm=None, lookback=168, horizon=24
    ),
    "gru-32 bidirectional, seq2seq + dot attention, L 48, H 24": dict(
        cell="gru",
        hidden_size=32,
        bidirectional=True,
        head="seq2seq_dot",
        window_norm="standard",
        lookback=48,
        horizon=24,
    ),
    "lstm-64, direct, es, quantiles 0.1/0.5/0.9 + 80 % interval, L 48, H 24": dict(
        cell="lstm", hidden_size=64, lookback=48, horizon=24, loss="pinball", level=(80,)
    ),
}
BATCHES = (1, 100)


def fitted(df, config, steps):
    from forecast import RNNForecaster

    return RNNForecaster(
        max_steps=steps, batch_size=64, season_length=24, device="cpu", verbose=False, **config
    ).fit(df)


def origins_of(df, n, horizon):
    """The origin ``horizon`` steps before the end of the first ``n`` series."""
    import pandas as pd

    last = df.groupby("unique_id", sort=False)["ds"].nth(-horizon - 1).iloc[:n]
    return pd.DataFrame({"unique_id": df.loc[last.index, "unique_id"].to_numpy(), "cutoff": last})


def torch_forecast(model):
    """A function of the graph's numpy inputs running the same forecast in torch eager."""
    import torch

    from forecast.export.graph import ForecastGraph
    from forecast.export.onnx import check_exportable

    state = model.state_
    graph = ForecastGraph(state, model.module_.eval(), check_exportable(state, model.level)).eval()

    def run(inputs):
        with torch.no_grad():
            args = {k: torch.as_tensor(v) for k, v in inputs.items()}
            series = args.pop("series")
            out = graph(
                args.pop("y"),
                series,
                args.get("past_covariates"),
                args.get("future_covariates"),
                args.get("calendar"),
            )
            return [o.numpy() for o in out]

    return run


def onnx_forecast(path, threads):
    """A function of the graph's numpy inputs running the exported file in onnxruntime."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda inputs: sess.run(None, inputs)


def interleaved(fns, inputs, calls, warmup=10):
    """{name: [seconds per call]}: the functions called in turn (A, B, B, A, ...)."""
    for fn in fns.values():
        for _ in range(warmup):
            fn(inputs)
    times = {name: [] for name in fns}
    order = list(fns)
    for i in range(calls):
        for name in order if i % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            fns[name](inputs)
            times[name].append(time.perf_counter() - t0)
    return times


def measure_onnx(args):
    """onnxruntime vs torch latency per configuration and batch size."""
    import numpy as np
    import torch

    from forecast.export import onnx_inputs

    torch.set_num_threads(args.threads)
    df = common.make_data(max(BATCHES), args.length)
    rows = []
    for name, config in CONFIGS.items():
        model = fitted(df, config, args.steps)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            path = model.export_onnx(Path(tmp) / "model.onnx")
            export_s = time.perf_counter() - t0
            fns = {"torch": torch_forecast(model), "onnxruntime": onnx_forecast(path, args.threads)}
            for batch in BATCHES:
                inputs = onnx_inputs(model, df, origins_of(df, batch, config["horizon"]))
                a, b = (fn(inputs) for fn in fns.values())
                # relative to the forecast's scale: an element near zero has no relative error
                diff = max(float(np.max(np.abs(x - y)) / np.max(np.abs(x))) for x, y in zip(a, b))
                calls = args.calls if batch == 1 else max(args.calls // 4, 20)
                times = interleaved(fns, inputs, calls)
                row = dict(config=name, batch=batch, export_s=export_s, max_rel_diff=diff)
                for runtime, ts in times.items():
                    for q in (50, 95, 99):
                        row[f"{runtime}_p{q}_ms"] = common.percentile(ts, q) * 1e3
                rows.append(row)
                print(f"{name}, batch {batch}: {row}", flush=True)
    return rows


def report_onnx(rows):
    table = [
        [
            r["config"],
            r["batch"],
            *(f"{r[f'torch_p{q}_ms']:.2f}" for q in (50, 95, 99)),
            *(f"{r[f'onnxruntime_p{q}_ms']:.2f}" for q in (50, 95, 99)),
            f"{r['torch_p50_ms'] / r['onnxruntime_p50_ms']:.1f}x",
            f"{r['max_rel_diff']:.1g}",
            f"{r['export_s']:.0f}",
        ]
        for r in rows
    ]
    head = ["configuration", "batch", "torch p50", "p95", "p99", "onnxruntime p50", "p95", "p99"]
    head += ["torch / ort (p50)", "max diff / max value", "export s"]
    return common.table(head, table)


def post_timer(port, body):
    """A function that POSTs ``body`` to /invocations over one keep-alive connection; its time."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    head = {"Content-Type": "application/json"}

    def call(_):
        try:
            conn.request("POST", "/invocations", body, head)
            resp = conn.getresponse()
        except (ConnectionError, http.client.HTTPException):  # idle past uvicorn's keep-alive
            conn.close()
            conn.request("POST", "/invocations", body, head)
            resp = conn.getresponse()
        data = resp.read()
        assert resp.status == 200, data[:500]

    return call


def recent(df, batch, lookback):
    """The last ``lookback`` rows of the first ``batch`` series: one request's history."""
    history = df[df["unique_id"].isin(df["unique_id"].unique()[:batch])]
    return history.groupby("unique_id").tail(lookback).reset_index(drop=True)


def load():
    return round(os.getloadavg()[0], 2)


def measure_predict(args):
    """``predict(df)`` of one request's history in this process: wall and CPU ms per call, torch
    on ``--threads`` intra-op threads (as the server runs it)."""
    import torch

    import forecast

    torch.set_num_threads(args.threads)
    df = common.make_data(max(BATCHES), args.length)
    model = fitted(df, next(iter(CONFIGS.values())), args.steps)
    rows = []
    for batch in BATCHES:
        history = recent(df, batch, model.lookback_)
        calls = args.calls if batch == 1 else max(args.calls // 2, 20)
        row = dict(batch=batch, calls=calls, code=str(Path(forecast.__file__).parent), load=load())
        for _ in range(10):
            model.predict(history)
        wall, cpu = [], []
        for _ in range(calls):
            w0, c0 = time.perf_counter(), time.process_time()
            model.predict(history)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
        for q in (50, 95, 99):
            row[f"predict_p{q}_ms"] = common.percentile(wall, q) * 1e3
        row["cpu_p50_ms"], row["load_after"] = common.percentile(cpu, 50) * 1e3, load()
        rows.append(row)
        print(f"predict, {batch} series: {row}", flush=True)
    return rows


def report_predict(rows):
    table = [
        [r["batch"], r["calls"], *(f"{r[f'predict_p{q}_ms']:.2f}" for q in (50, 95, 99))]
        + [f"{r['cpu_p50_ms']:.2f}", f"{r['load']}-{r['load_after']}", r["code"]]
        for r in rows
    ]
    head = ["series / request", "calls", "predict p50", "p95", "p99", "CPU p50", "load", "code"]
    return common.table(head, table)


def start_server(tmp, name, uri, baseline=None):
    """(process, port, seconds to healthy) of ``forecast serve-model``'s command for ``name``;
    with ``baseline`` (another tree of this code), that tree's library and pyfunc wrapper behind
    the same logged model, with its own defaults (torch's threads, no heap freeze)."""
    import socket
    import subprocess

    from pipelines import server, serving

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv, env = serving.serve_command(name, port=port, uri=uri)
    cwd = None  # uvicorn puts its working folder first on sys.path: the tree it runs from
    if baseline:
        env = {k: v for k, v in env.items() if k not in ("OMP_NUM_THREADS", serving.SERVER_FLAG)}
        env["PYTHONPATH"] = cwd = str(Path(baseline).resolve())
    log_path = f"{tmp}/server-{port}.log"
    t0 = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        server.wait_healthy(f"http://127.0.0.1:{port}", 240, proc, log_path)
    except BaseException:
        stop_server(proc)
        raise
    return proc, port, time.perf_counter() - t0


def stop_server(proc):
    os.killpg(proc.pid, 15)
    proc.wait(30)


def champion(tmp, args):
    """(data, model, store URI, pyfunc model): the defaults' model fitted on generated data,
    logged and registered as champion "bench-serving" of a SQLite store in ``tmp``."""
    from pipelines import logged_model, registry, runs, store

    df = common.make_data(max(BATCHES), args.length)
    uri = f"sqlite:///{tmp}/mlflow.db"
    store.configure(uri, experiment="bench-serving")
    model = fitted(df, next(iter(CONFIGS.values())), args.steps)
    with runs.run("bench") as run:
        logged_model.log_model(model, run_id=run.run_id)
        registry.register_and_promote(run.run_id, "bench-serving", "holdout_mase", 1.0)
    return df, model, uri, registry.load_pyfunc("bench-serving")


def measure_request(args):
    """Where a request's time goes, in this process: MLflow's scoring function
    (``scoring_server.invocations``: the whole request but the HTTP layer) and its parts -- JSON
    to a frame cast to the signature, schema enforcement, the pyfunc model, ``predict``, the
    answer's JSON. CPU and wall ms per call, the parts interleaved call by call."""
    import io

    import torch
    from mlflow.pyfunc import _validate_prediction_input
    from mlflow.pyfunc import scoring_server as ss

    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        df, model, _, pyfunc = champion(tmp, args)
        meta, schema = pyfunc.metadata, pyfunc.metadata.get_input_schema()
        for batch in BATCHES:
            history = recent(df, batch, model.lookback_)
            split = history.to_json(orient="split", index=False, date_format="iso")
            body = ('{"dataframe_split": ' + split + "}").encode()
            parsed = ss._parse_json_data(body, meta, schema).data
            checked, _ = _validate_prediction_input(parsed, None, schema, None)
            out = pyfunc.predict(parsed)
            parts = {
                "request": lambda _, b=body: ss.invocations(b, "application/json", pyfunc, schema),
                "parse": lambda _, b=body: ss._parse_json_data(b, meta, schema),
                "schema": lambda _, p=parsed: _validate_prediction_input(p, None, schema, None),
                "pyfunc": lambda _, p=parsed: pyfunc.predict(p),
                "predict": lambda _, c=checked: model.predict(c),
                "answer JSON": lambda _, o=out: ss.predictions_to_json(o, io.StringIO()),
            }
            calls = args.calls if batch == 1 else max(args.calls // 4, 20)
            row = dict(batch=batch, calls=calls, load=load())
            for name, fn in parts.items():  # each part's CPU: timed alone, interleaved below
                cpu = []
                for _ in range(calls):
                    c0 = time.process_time()
                    fn(None)
                    cpu.append(time.process_time() - c0)
                row[f"{name} cpu"] = common.percentile(cpu, 50) * 1e3
            for name, ts in interleaved(parts, None, calls).items():
                row[f"{name} wall"] = common.percentile(ts, 50) * 1e3
            row["load_after"] = load()
            rows.append(row)
            print(f"request, {batch} series: {row}", flush=True)
    return rows


def report_request(rows):
    names = ["request", "parse", "schema", "pyfunc", "predict", "answer JSON"]
    table = [
        [r["batch"], r["calls"]]
        + [f"{r[f'{n} cpu']:.2f} / {r[f'{n} wall']:.2f}" for n in names]
        + [f"{r['load']}-{r['load_after']}"]
        for r in rows
    ]
    head = ["series / request", "calls", "whole (invocations)", "JSON to frame", "schema"]
    head += ["pyfunc model", "of which predict", "answer to JSON", "load"]
    return common.table(head, table)


def measure_server(args):
    """Latency and requests per second through ``mlflow models serve`` (the champion of a
    temporary store, started as ``forecast serve-model`` does), one client, one request at a
    time; beside it the same frame through the pyfunc model and ``predict`` in this process
    (torch on ``--threads`` threads here). ``--baseline TREE``: a second server runs that tree's
    code, its requests interleaved with the first's (the same load for both)."""
    import torch

    from pipelines import logged_model

    torch.set_num_threads(args.threads)
    rows, procs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        df, model, uri, pyfunc = champion(tmp, args)
        try:
            for baseline in [None, args.baseline] if args.baseline else [None]:
                procs.append(start_server(tmp, "bench-serving", uri, baseline))
            for batch in BATCHES:
                history = recent(df, batch, model.lookback_)
                split = history.to_json(orient="split", index=False, date_format="iso")
                body = ('{"dataframe_split": ' + split + "}").encode()
                calls = args.calls if batch == 1 else max(args.calls // 2, 20)
                frame = logged_model.pyfunc_input(history)
                fns = {"http": post_timer(procs[0][1], body)}
                if args.baseline:
                    fns["baseline"] = post_timer(procs[1][1], body)
                fns["pyfunc"] = lambda _, f=frame: pyfunc.predict(f)
                fns["predict"] = lambda _, h=history: model.predict(h)
                before = load()
                times = interleaved(fns, None, calls)
                wall = sum(times["http"])
                row = dict(batch=batch, calls=calls, request_kb=len(body) / 1e3, rps=calls / wall)
                row.update(server_start_s=procs[0][2], load=before, load_after=load())
                for runtime, ts in times.items():
                    for q in (50, 95, 99):
                        row[f"{runtime}_p{q}_ms"] = common.percentile(ts, q) * 1e3
                rows.append(row)
                print(f"server, {batch} series: {row}", flush=True)
        finally:
            for proc, _, _ in procs:
                stop_server(proc)
    return rows


def report_server(rows):
    kinds = [k for k in ("http", "baseline", "pyfunc", "predict") if f"{k}_p50_ms" in rows[0]]
    table = [
        [r["batch"], r["calls"], f"{r['request_kb']:.0f}"]
        + [f"{r[f'{k}_p{q}_ms']:.1f}" for k in kinds for q in (50, 95, 99)]
        + [f"{r['rps']:.0f}", f"{r['load']}-{r['load_after']}"]
        for r in rows
    ]
    names = {"http": "HTTP", "baseline": "baseline HTTP", "pyfunc": "pyfunc", "predict": "predict"}
    head = ["series / request", "requests", "request kB"]
    head += [h for k in kinds for h in (f"{names[k]} p50", "p95", "p99")]
    return common.table(head + ["requests / s", "load"], table)


PARTS = {
    "onnx": (measure_onnx, report_onnx),
    "server": (measure_server, report_server),
    "predict": (measure_predict, report_predict),
    "request": (measure_request, report_request),
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--part", choices=sorted(PARTS), action="append", required=True)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--calls", type=int, default=400, help="calls per runtime at batch 1")
    p.add_argument("--steps", type=int, default=20, help="training steps per model")
    p.add_argument("--length", type=int, default=600, help="points per series")
    p.add_argument("--label", default="", help="suffix of the results file (e.g. 'before')")
    p.add_argument("--baseline", help="--part server: also serve from this tree of the code")
    args = p.parse_args(argv)
    if args.quick:
        args.calls, args.steps, args.length = 100, 5, 300
    for part in args.part:
        measure, report = PARTS[part]
        rows = measure(args)
        print(report(rows))
        result = {"machine": common.machine_info(), "args": vars(args), "rows": rows}
        name = f"serving-{part}" + ("_quick" if args.quick else "")
        common.save_json(name + (f"-{args.label}" if args.label else ""), result)


if __name__ == "__main__":
    main()
