"""Orchestration around the ``forecast`` core: Prefect flows, MLflow tracking adapter, CLI.

Nothing here is imported by ``forecast``; prefect and mlflow are imported lazily, inside the
functions that need them.
"""
