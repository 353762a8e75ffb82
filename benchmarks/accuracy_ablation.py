"""Quick development ablations (one fit per data set, not the suite): the runs behind the
"development ablation" table of RESULTS-accuracy-ablation.md.

Usage: THREADS=1 python benchmarks/accuracy_ablation.py '<json RNNForecaster kwargs>' m4w,m3m,ett1,air 60 [seed]

m4w: M4 Weekly OWA (one origin); m3m/m3q/m3y: M3 monthly/quarterly/yearly sMAPE (synthetic
dates at the group's frequency); ett1/ett2: ETTh1/2 multivariate H=96 MSE on z-scored values,
every 8th test origin; air: AirPassengers last 12 months, MASE (m 12).
"""

import json
import sys
import time
import warnings

import numpy as np
import pandas as pd
import torch

warnings.filterwarnings("ignore")
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
import os  # noqa: E402

from forecast import RNNForecaster  # noqa: E402
from forecast.datasets import load, m4_split  # noqa: E402

torch.set_num_threads(int(os.environ.get("THREADS", "1")))
D = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "data")


def smape(y, p):
    return np.mean(200 * np.abs(y - p) / (np.abs(y) + np.abs(p)))


def m4w(kw, budget, seed):
    train, test = m4_split(load("m4_weekly"))
    m = RNNForecaster(horizon=13, max_time=budget, seed=seed, verbose=False, **kw).fit(train)
    fc = m.predict().merge(test, on=["unique_id", "ds"])
    s, ma = [], []
    for uid, g in fc.groupby("unique_id"):
        tr = train[train.unique_id == uid].y.to_numpy()
        sc = np.mean(np.abs(np.diff(tr)))
        s.append(smape(g.y.to_numpy(), g.y_pred.to_numpy()))
        ma.append(np.mean(np.abs(g.y - g.y_pred)) / sc)
    S, M = np.mean(s), np.mean(ma)
    return dict(
        smape=S,
        mase=M,
        owa=0.5 * (S / 9.161 + M / 2.777),
        epochs=len(m.history_.records),
        L=m.lookback_,
        m=m.season_length_,
    )


def m3(kw, budget, seed, period="MONTHLY", h=18, freq="MS", ref=(16.91, 13.85)):
    meta = pd.read_csv(f"{D}/m3/m3-meta.csv")
    lg = pd.read_csv(f"{D}/m3/m3-long.csv.gz")
    ids = set(meta[meta.period.str.upper() == period].id)
    lg = lg[lg.id.isin(ids)]
    lg = lg.sort_values(["id", "t"])
    lg["ds"] = pd.date_range("1700-01-01", periods=lg.t.max() + 1, freq=freq)[lg.t.to_numpy()]
    df = lg.rename(columns={"id": "unique_id", "value": "y"})[["unique_id", "ds", "y", "split"]]
    train, test = (
        df[df.split == "train"].drop(columns="split"),
        df[df.split == "test"].drop(columns="split"),
    )
    m = RNNForecaster(horizon=h, max_time=budget, seed=seed, verbose=False, **kw).fit(train)
    fc = m.predict().merge(test, on=["unique_id", "ds"])
    return dict(
        smape=smape(fc.y.to_numpy(), fc.y_pred.to_numpy()),
        epochs=len(m.history_.records),
        L=m.lookback_,
        m=m.season_length_,
        n=len(fc),
    )


def ett(kw, budget, seed, H=96, name="etth1", stride=8):
    from forecast.datasets import ETT_VARIABLES

    r = pd.read_csv(f"{D}/ett/ETTh{name[-1]}.csv")
    r = r.iloc[:14400]
    vals = r[list(ETT_VARIABLES)].to_numpy(float)
    mu, sd = vals[:8640].mean(0), vals[:8640].std(0)
    z = (vals - mu) / sd
    ds = pd.to_datetime(r.date)
    long = pd.concat(
        [
            pd.DataFrame({"unique_id": v, "ds": ds, "y": z[:, i]})
            for i, v in enumerate(ETT_VARIABLES)
        ]
    )
    train = long[long.ds < ds.iloc[11520]]
    m = RNNForecaster(horizon=H, max_time=budget, seed=seed, verbose=False, **kw).fit(train)
    cut = ds.iloc[np.arange(11519, 14400 - H, stride)]
    origins = pd.DataFrame(
        [(u, c) for u in ETT_VARIABLES for c in cut], columns=["unique_id", "cutoff"]
    )
    fc = m.predict_at(long, origins).merge(long, on=["unique_id", "ds"])
    e = fc.y - fc.y_pred
    return dict(
        mse=float(np.mean(e**2)),
        mae=float(np.mean(np.abs(e))),
        epochs=len(m.history_.records),
        L=m.lookback_,
        m=m.season_length_,
    )


def air(kw, budget, seed):
    df = load("airpassengers")
    train, test = df.iloc[:-12], df.iloc[-12:]
    m = RNNForecaster(horizon=12, max_time=budget, seed=seed, verbose=False, **kw).fit(train)
    fc = m.predict().merge(test, on=["unique_id", "ds"])
    y = train.y.to_numpy()
    sc = np.mean(np.abs(y[12:] - y[:-12]))
    return dict(
        mase=float(np.mean(np.abs(fc.y - fc.y_pred)) / sc),
        smape=smape(fc.y.to_numpy(), fc.y_pred.to_numpy()),
        epochs=len(m.history_.records),
        L=m.lookback_,
    )


FUN = dict(
    m4w=m4w,
    m3m=m3,
    m3q=lambda k, b, s: m3(k, b, s, "QUARTERLY", 8, "QS"),
    m3y=lambda k, b, s: m3(k, b, s, "YEARLY", 6, "YS"),
    ett1=ett,
    ett2=lambda k, b, s: ett(k, b, s, name="etth2"),
    ett1_336=lambda k, b, s: ett(k, b, s, H=336),
    air=air,
)
kw = json.loads(sys.argv[1])
budget = float(sys.argv[3])
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
for d in sys.argv[2].split(","):
    t = time.time()
    try:
        r = FUN[d](dict(kw), budget, seed)
    except Exception as e:
        r = dict(error=repr(e)[:300])
    r = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}
    print(json.dumps(dict(d=d, kw=kw, seed=seed, sec=round(time.time() - t, 1), **r)), flush=True)
