"""Every schedule of the project, in one place, and how the flows are served with them.

Defaults (:data:`SERVE`, mirrored by ``[serve]`` in ``pipelines/default.toml``): retrain weekly
(cron ``0 3 * * 1``, Monday 03:00 UTC) and forecast hourly (an interval of 3600 s, or a cron
given with ``forecast_cron``).

Schedules need a real Prefect server (the ephemeral one only warns "Cannot schedule flows on an
ephemeral server"). Start one on loopback with ``forecast server`` (or
``scripts/prefect-server.sh``), ``export PREFECT_API_URL=http://127.0.0.1:4200/api``, then
``forecast serve``. Any other Prefect API works the same way through ``PREFECT_API_URL``.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta

from . import config, environment, flows, runners

SERVE = {
    "train_cron": "0 3 * * 1",
    "forecast_interval_seconds": 3600,
    "timezone": "UTC",
}  # the defaults
TRAIN_DEPLOYMENT = "weekly-retrain"
FORECAST_DEPLOYMENT = "hourly-forecast"
TAGS = ["recurrent-forecast"]


def train_schedule(serve_cfg):
    """The retraining schedule: a cron."""
    from prefect.schedules import Cron

    serve_cfg = SERVE | serve_cfg
    return Cron(serve_cfg["train_cron"], timezone=serve_cfg["timezone"])


def forecast_schedule(serve_cfg):
    """The forecasting schedule: ``forecast_cron`` when set, else every
    ``forecast_interval_seconds``.
    """
    from prefect.schedules import Cron, Interval

    serve_cfg = SERVE | serve_cfg
    tz = serve_cfg["timezone"]
    if serve_cfg.get("forecast_cron"):
        return Cron(serve_cfg["forecast_cron"], timezone=tz)
    seconds = int(serve_cfg["forecast_interval_seconds"])
    if seconds < 1:
        raise ValueError(f"forecast_interval_seconds must be >= 1, got {seconds}")
    return Interval(timedelta(seconds=seconds), timezone=tz)


def deployments(cfg, serve_cfg=None):
    """The train and forecast flows as runner deployments, with their parameters and schedules.

    Parameters come from the configuration (``[common]``, ``[train]``, ``[forecast]``) and are
    validated here, so a bad file fails before anything is served.
    """
    serve_cfg = cfg.get("serve", {}) if serve_cfg is None else serve_cfg
    runner = config.section(cfg, "runner")
    made = []
    for flow_obj, section, name, schedule in (
        (flows.train, "train", TRAIN_DEPLOYMENT, train_schedule(serve_cfg)),
        (flows.forecast, "forecast", FORECAST_DEPLOYMENT, forecast_schedule(serve_cfg)),
    ):
        params = flow_obj.validate_parameters(config.flow_parameters(flow_obj, cfg, section))
        params = {k: getattr(v, "model_dump", lambda v=v: v)() for k, v in params.items()}
        served = runners.with_runner(flow_obj, **runner) if section == "train" else flow_obj
        made.append(
            served.to_deployment(
                name=name,
                schedules=[schedule],
                parameters=params,
                tags=TAGS,
                description=(flow_obj.description or "").split("\n")[0],
            )
        )
    return made


def serve(deployments_, limit=None):
    """Serve ``deployments_`` until interrupted (Prefect's own ``serve``; needs a Prefect
    server)."""
    from prefect import serve as prefect_serve

    prefect_serve(*deployments_, limit=limit)


def server_command(port=4200):
    """(argv, env) of a local Prefect server on 127.0.0.1:``port`` without analytics."""
    env = dict(
        os.environ,
        **environment.PREFECT_ANALYTICS_OFF,
        PREFECT_SERVER_UI_API_URL=f"http://127.0.0.1:{port}/api",
    )
    env.pop("PREFECT_API_URL", None)  # the server must not try to talk to another API
    argv = [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--analytics-off",
    ]
    return argv, env
