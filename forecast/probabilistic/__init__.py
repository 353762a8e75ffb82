"""Layer 5, forecasts as distributions: one class per family (``families``: head, likelihood,
quantiles, sampling), the decoder from network outputs to quantile, interval and sample columns
(``decoder``) and split-conformal calibration (``conformal``). Imports: the layers below.
"""
