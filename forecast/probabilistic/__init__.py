"""Layer 5, forecasts as distributions: the decoder from network outputs to quantiles, samples
and intervals (``decoder``) and split-conformal calibration (``conformal``). Imports:
``forecast.data``, ``forecast.training.losses`` and the base modules.
"""
