"""The README's fan chart: AirPassengers, the last 12 months held out, conformal 80/95 % intervals.

Usage: ``python benchmarks/fan_chart.py`` -> ``benchmarks/results/fan-chart.png`` and the hold-out
coverage printed (12 points: each one is 8.3 percentage points of coverage).
"""

from __future__ import annotations

import sys
from pathlib import Path

from forecast import RNNForecaster
from forecast.datasets import load
from forecast.metrics.interval import coverage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipelines.plots import forecast_figure  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "fan-chart.png"


def main():
    air = load("airpassengers")
    train, test = air.iloc[:-12], air.iloc[-12:]
    model = RNNForecaster(
        horizon=12, interval="conformal", level=(80, 95), seed=0, verbose=False
    ).fit(train)
    fc = model.predict()
    both = fc.merge(test, on=["unique_id", "ds"])
    for lv in (80, 95):
        print(
            f"hold-out coverage of the {lv} % interval: {coverage(both.y, both[f'y_lo{lv}'], both[f'y_hi{lv}']):.1f} %"
        )
    fig = forecast_figure(train, fc, actuals=air, n_series=1, history_points=48)
    fig.suptitle(
        "AirPassengers: conformal 80 / 95 % intervals (last 12 months held out)", fontsize=10
    )
    OUT.parent.mkdir(exist_ok=True)
    fig.savefig(OUT.with_suffix(".tmp.png"), dpi=110)
    OUT.with_suffix(".tmp.png").replace(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
