"""The MLflow pyfunc face of a fitted RNNForecaster ("models from code": no pickle).

MLflow executes this file when the model is logged and loaded (``logged_model.log_model`` passes
its path); the library never imports it. The model reads the estimator folder logged as the
artifact ``estimator`` and forecasts from the frame built by ``logged_model.pyfunc_input``:
history rows [unique_id, ds, y, covariates...] plus, for models with future covariates,
the horizon rows flagged ``is_future``. Output: [unique_id, ds, y_pred], ``horizon`` rows per
series — exactly ``RNNForecaster.predict(history, X_future)``.
"""

import pandas as pd
from mlflow.pyfunc import PythonModel

import mlflow


class ForecastPyfunc(PythonModel):
    def load_context(self, context):
        from forecast import RNNForecaster

        self.estimator = RNNForecaster.load(context.artifacts["estimator"], device="cpu")

    def predict(
        self, context, model_input: pd.DataFrame, params=None
    ):  # the hint: signature comes from log_model
        from pipelines.serving import answer  # bad input: HTTP 400 with the library's message

        return answer(self.estimator, model_input)


mlflow.models.set_model(ForecastPyfunc())
