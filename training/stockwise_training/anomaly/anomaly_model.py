"""`stockwise-anomaly` as logged to MLflow: models-from-code, the state in plain files.

`load_context` rebuilds the rules and the IsolationForest from the `state` artifact (JSON and a
skops file that admits only the scikit-learn tree type), so nothing is unpickled. The detection
itself is `stockwise_training.anomaly.model.AnomalyModel`.
"""

from __future__ import annotations

import mlflow
import pandas as pd


class AnomalyFromState(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        from stockwise_training.anomaly.model import AnomalyModel

        self.model = AnomalyModel.restore(context.artifacts["state"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """`params`: the assortment's pooled figures (`Pooled.params()`) when the input is one batch."""
        from stockwise.anomaly.rules import Pooled

        return self.model.detect(model_input, Pooled.from_params(params))


mlflow.models.set_model(AnomalyFromState())
