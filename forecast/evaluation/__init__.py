"""Layer 8, judging estimators: rolling-origin backtests (``backtesting``), model selection
over candidate grids (``selection``), naive baselines (``baselines``) and the vanishing-gradient
diagnostic (``diagnostics``). Imports: the estimator and everything below it.
"""
