"""`stockwise-shelf` as an MLflow pyfunc, logged as code (a YOLO object cannot be pickled).

Input: a frame with an `image` column (local paths). Output, one row per image: the facings
counted, the count per shelf row (boxes grouped by where they stand), the boxes as JSON and,
for a file that is not a readable image, the reason (it is skipped, not raised). The weights
are an artifact of the logged model; ultralytics is made offline before it is imported.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd


def shelf_rows(boxes: np.ndarray) -> list[int]:
    """Facings per shelf row, top to bottom: boxes whose bottoms lie within half a facing's
    height of each other stand on the same board."""
    if not len(boxes):
        return []
    bottoms = np.sort(boxes[:, 3])
    gap = 0.5 * float(np.median(boxes[:, 3] - boxes[:, 1]))
    counts, run = [], 1
    for a, b in zip(bottoms[:-1], bottoms[1:], strict=True):
        if b - a > gap:
            counts.append(run)
            run = 1
        else:
            run += 1
    return counts + [run]


class ShelfModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        from stockwise_training.shelf.yolo import TrainParams, offline

        offline(Path(os.environ.get("STOCKWISE_YOLO_CONFIG_DIR", tempfile.gettempdir())) / "stockwise-yolo")
        cfg = json.loads(Path(context.artifacts["params"]).read_text())
        self.params = TrainParams(**cfg)
        self.weights = context.artifacts["weights"]

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        from stockwise.shelf.images import open_image
        from stockwise_training.shelf.yolo import count

        rows = []
        good, names = [], []
        for path in model_input["image"].astype(str):
            data = Path(path).read_bytes() if Path(path).exists() else b""
            img, check = open_image(data, path)
            if img is None:
                rows.append(
                    {"image": path, "facings": 0, "rows": "[]", "boxes": "[]", "error": check.reason or "missing file"}
                )
            else:
                good.append(img)
                names.append(path)
        for path, b in zip(names, count(self.weights, good, self.params) if good else [], strict=True):
            rows.append(
                {
                    "image": path,
                    "facings": int(len(b)),
                    "rows": json.dumps(shelf_rows(b)),
                    "boxes": json.dumps(np.round(b, 1).tolist()),
                    "error": "",
                }
            )
        order = {p: i for i, p in enumerate(model_input["image"].astype(str))}
        return (
            pd.DataFrame(rows, columns=["image", "facings", "rows", "boxes", "error"])
            .sort_values("image", key=lambda s: s.map(order))
            .reset_index(drop=True)
        )


mlflow.models.set_model(ShelfModel())
