"""Jobs: train and register `stockwise-shelf`; promote it when it detects facings better.

`run` trains the YOLO facing counter from its model YAML on a YOLO-format dataset folder (the
lake's `shelf/training/` when a user put their own photos there, else synthetic shelves made
with a seed), measures mAP50, mAP50-95 and count MAE on a held-out harder synthetic test set,
logs them, sample predictions and the weights to MLflow and registers the version as
`challenger`. `promote_job` moves `champion` when the challenger's test mAP50 beats the
champion's (as recorded) by the margin, and never below the quality bar
(`STOCKWISE_SHELF_MIN_MAP50`, 0.8): an untrained model would see every shelf empty.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from stockwise import registry, tracking
from stockwise.errors import ConfigError
from stockwise.registry import SHELF
from stockwise.settings import Settings
from stockwise.tracking import use_mlflow

log = logging.getLogger(__name__)

PIP = [
    "mlflow",
    "pandas",
    "numpy",
    "pillow",
    "torch==2.14.1",
    "torchvision==0.29.1",
    "ultralytics==8.4.190",
    "stockwise",
]


@dataclass(frozen=True)
class ShelfTrainResult:
    ds: str
    model: str
    version: str
    metrics: dict
    run_id: str
    seconds: float


def _test_split(data_yaml: Path) -> str:
    import yaml

    return "test" if yaml.safe_load(data_yaml.read_text()).get("test") else "val"


def _samples(weights: Path, test_root: Path, split: str, p, out: Path) -> list[Path]:
    """A few test images with the predicted boxes drawn, for reviewers."""
    from PIL import Image, ImageDraw

    from stockwise_training.shelf.yolo import count, split_images

    imgs = split_images(test_root, split)[:4]
    paths = []
    for img_path, boxes in zip(imgs, count(weights, [str(i) for i in imgs], p), strict=True):
        im = Image.open(img_path).convert("RGB")
        d = ImageDraw.Draw(im)
        for x0, y0, x1, y1, _conf in boxes:
            d.rectangle((x0, y0, x1, y1), outline=(255, 40, 40), width=2)
        target = out / f"pred_{img_path.stem}.png"
        im.save(target)
        paths.append(target)
    return paths


def model_card(ds: date, metrics: dict, p, images: int, source: str) -> str:
    """The model card (Markdown) MLflow shows on the experiment, the registered model and the run."""
    return f"""### {SHELF.name}: products counted on shelf photos

**Intended use.** Counts the facings of each product on a store's shelf photo (YOLO detection);
the counts are reconciled with the book stock to flag phantom stock and missing replenishment.
Not a planogram-compliance or pricing tool.

**Data.** {images:,} training images ({source}); trained {p.epochs} epochs at {p.imgsz} px, from a
model YAML (no pretrained weights are downloaded).

**Test.** mAP50 {metrics["mAP50"]:.3f}, mAP50-95 {metrics["mAP50-95"]:.3f}, count error (MAE per
image) {metrics["count_mae"]:.2f}, {metrics["seconds_per_image"]:.2f} s an image; counting threshold
{p.conf:.2f}, tuned on validation.

**Limits.** Synthetic shelves unless `STOCKWISE_SHELF_DATASET` names real photos: real lighting,
occlusion and packaging differ. Promoted only at or above the quality bar
(`STOCKWISE_SHELF_MIN_MAP50`).
"""


def run(
    ds: date,
    settings: Settings | None = None,
    epochs: int | None = None,
    images: int | None = None,
    imgsz: int | None = None,
    device: str | None = None,
) -> ShelfTrainResult:
    from dataclasses import replace

    import mlflow

    from stockwise_training.shelf.yolo import TrainParams, count_mae, offline, train, tune_conf

    settings = settings or Settings()
    epochs, images = epochs or settings.shelf_epochs, images or settings.shelf_images
    imgsz, device = imgsz or settings.shelf_imgsz, device or settings.shelf_device
    t0 = time.monotonic()
    started = time.time()  # the MLflow run's start: its duration covers the training
    work = Path(tempfile.mkdtemp(prefix="shelf-", dir=settings.scratch if settings.scratch.exists() else None))
    offline(work / "yolo_cfg")
    from ultralytics import YOLO

    from stockwise_training.shelf.synthetic import HARD, MEDIUM, ShelfConfig, make_dataset

    if settings.shelf_dataset is not None:
        # the user's own photos: any YOLO-format folder; measured on its test split (else val)
        data = Path(settings.shelf_dataset).expanduser().resolve() / "data.yaml"
        if not data.is_file():
            raise ConfigError(
                f"STOCKWISE_SHELF_DATASET={settings.shelf_dataset}: no data.yaml there (a YOLO-format "
                "folder: data.yaml, images/<split>/, labels/<split>/)"
            )
        test_root, test_split, test = data.parent, _test_split(data), data
        source = str(data.parent)
    else:
        data = make_dataset(
            work / "train_ds",
            {"train": images, "val": max(4, images // 4)},
            seed=0,
            cfg=ShelfConfig(size=imgsz),
            mix=MEDIUM.__class__(**{**MEDIUM.__dict__, "size": imgsz}),
            mix_share=0.5,
        )
        test = make_dataset(
            work / "test_ds",
            {"val": max(4, images // 2)},
            seed=12345,
            cfg=HARD.__class__(**{**HARD.__dict__, "size": imgsz}),
        )
        test_root, test_split, source = (
            work / "test_ds",
            "val",
            "synthetic seed 0 (half medium); test seed 12345 (hard)",
        )
    p = TrainParams(imgsz=imgsz, epochs=epochs, device=device, batch=min(16, images))
    best, val_metrics, secs = train(data, work / "runs", p)
    conf, _ = tune_conf(best, data.parent, "val", p)  # the counting threshold, on validation
    p = replace(p, conf=conf)
    tm = YOLO(str(best)).val(
        data=str(test),
        imgsz=imgsz,
        device=device,
        plots=False,
        verbose=False,
        project=str(work / "runs"),
        name="test",
        exist_ok=True,
        workers=0,
        split=test_split,
    )
    mae, per_img = count_mae(best, test_root, test_split, p)
    metrics = {
        "mAP50": float(tm.box.map50),
        "mAP50-95": float(tm.box.map),
        "count_mae": mae,
        "val_mAP50": val_metrics["mAP50"],
        "seconds_per_image": per_img,
    }
    (work / "params.json").write_text(json.dumps(asdict(p)))
    exp = use_mlflow(settings, SHELF.experiment)
    card = model_card(ds, metrics, p, images, source)
    tags = {**tracking.lineage_tags(settings, ds.isoformat()), "stockwise.job": "shelf_vision.train"}
    with tracking.start_run(exp, f"{SHELF.name} · data to {ds.isoformat()}", started, tags, card) as run_:
        mlflow.log_params({**asdict(p), "train_images": images, "dataset": source})
        mlflow.log_metrics({k.replace("-", "_"): v for k, v in metrics.items()})
        for s in _samples(best, test_root, test_split, p, work):
            mlflow.log_artifact(str(s), "samples")
        code = Path(__file__).with_name("pyfunc_model.py")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(code),
            artifacts={"weights": str(best), "params": str(work / "params.json")},
            pip_requirements=PIP,
            registered_model_name=SHELF.name,
        )
        run_id = run_.info.run_id
    version = registry.register(
        mlflow.MlflowClient(), SHELF, info.registered_model_version, metrics["mAP50"], {"stockwise.ds": ds.isoformat()}
    )
    tracking.describe(exp, SHELF.name, card)
    tracking.name_version_run(run_id, SHELF.name, version, ds.isoformat())
    log.info("shelf model v%s: %s", version, metrics)
    return ShelfTrainResult(
        ds.isoformat(),
        SHELF.name,
        version,
        {k: round(v, 4) for k, v in metrics.items()},
        run_id,
        round(time.monotonic() - t0, 1),
    )


def promote_job(ds: date, settings: Settings | None = None, margin: float = 0.02) -> dict:
    """Test mAP50 as recorded (the test set is regenerated from a seed), never below the quality bar."""
    import mlflow

    settings = settings or Settings()
    use_mlflow(settings, SHELF.experiment)
    p = registry.promote(
        mlflow.MlflowClient(), SHELF, margin, floor=settings.shelf_min_map50, floor_setting="STOCKWISE_SHELF_MIN_MAP50"
    )
    return {
        "ds": ds.isoformat(),
        "version": p.version,
        "promoted": p.promoted,
        "reason": p.reason,
        "champion_changed": p.changed,
    }
