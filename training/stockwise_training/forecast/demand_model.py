"""`stockwise-demand` as logged to MLflow: models-from-code, the state in plain files.

MLflow runs this file when the model loads; `load_context` rebuilds the trained forecaster from
the `state` artifact (JSON, NumPy arrays, Parquet, LightGBM text models), so nothing is
unpickled. The forecasting itself is `stockwise_training.forecast.pyfunc.DemandModel`.
"""

from __future__ import annotations

import mlflow
import pandas as pd


class DemandFromState(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        from stockwise_training.forecast.pyfunc import DemandModel

        self.model = DemandModel.restore(context.artifacts["state"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        return self.model.predict(context, model_input, params)


mlflow.models.set_model(DemandFromState())
