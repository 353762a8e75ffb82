"""Search over ``RNNForecaster`` settings on validation data with Optuna (imported inside
``AutoRNNForecaster.fit`` only, so the core imports without it)."""
