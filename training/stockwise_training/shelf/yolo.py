"""Training and running the YOLO facing counter with ultralytics, fully offline.

ultralytics reads its environment when imported and would otherwise try to download fonts,
weights and updates and log to MLflow on its own: `offline()` sets all of that first (a config
folder of ours, offline mode, no auto-install, its integrations off, matplotlib's DejaVu Sans in
place of the Arial it fetches). The model is built from a YAML (random init: no pretrained
weights can be downloaded), on the CPU unless `device` says otherwise.

The vision stack (torch, ultralytics: AGPL-3.0) is the optional `vision` extra; nothing else in
Stockwise imports this module.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

INTEGRATIONS_OFF = {
    "sync": False,
    "mlflow": False,
    "tensorboard": False,
    "wandb": False,
    "clearml": False,
    "comet": False,
    "dvc": False,
    "hub": False,
    "neptune": False,
    "raytune": False,
}


def offline(config_dir: str | Path) -> None:
    """Make ultralytics work without a network. Call before anything imports ultralytics."""
    cfg = Path(config_dir)
    (cfg / "Ultralytics").mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "YOLO_OFFLINE": "1",
            "YOLO_AUTOINSTALL": "false",
            "YOLO_CONFIG_DIR": str(cfg),
            "YOLO_VERBOSE": os.environ.get("YOLO_VERBOSE", "false"),
        }
    )
    import matplotlib

    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        target = cfg / "Ultralytics" / name
        if not target.exists():
            shutil.copyfile(font, target)
    from ultralytics import settings

    settings.update({k: v for k, v in INTEGRATIONS_OFF.items() if k in settings})


@dataclass(frozen=True)
class TrainParams:
    model_yaml: str = "yolo11n.yaml"
    imgsz: int = 320
    epochs: int = 40
    batch: int = 16
    device: str = "cpu"
    workers: int = 0
    seed: int = 0
    conf: float = 0.5  # counting threshold (0.25 over-counts touching facings)
    threads: int = 2


def train(data_yaml: str | Path, out_dir: str | Path, p: TrainParams = TrainParams()) -> tuple[Path, dict, float]:
    """Train from the model YAML; return (best weights, validation metrics, seconds)."""
    import torch
    from ultralytics import YOLO

    torch.set_num_threads(p.threads)
    t0 = time.monotonic()
    model = YOLO(p.model_yaml)
    model.train(
        data=str(data_yaml),
        imgsz=p.imgsz,
        epochs=p.epochs,
        batch=p.batch,
        device=p.device,
        workers=p.workers,
        amp=False,
        pretrained=False,
        seed=p.seed,
        deterministic=True,
        plots=False,
        project=str(Path(out_dir).resolve()),
        name="train",
        exist_ok=True,
        verbose=False,
        val=True,
    )
    best = Path(out_dir).resolve() / "train" / "weights" / "best.pt"
    m = YOLO(str(best)).val(
        data=str(data_yaml),
        imgsz=p.imgsz,
        device=p.device,
        plots=False,
        verbose=False,
        project=str(Path(out_dir).resolve()),
        name="val",
        exist_ok=True,
        workers=p.workers,
    )
    metrics = {
        "mAP50": float(m.box.map50),
        "mAP50-95": float(m.box.map),
        "precision": float(m.box.mp),
        "recall": float(m.box.mr),
    }
    return best, metrics, time.monotonic() - t0


def count(weights: str | Path, images: list, p: TrainParams = TrainParams()) -> list[np.ndarray]:
    """Boxes (x0, y0, x1, y1, confidence) per image (paths or PIL images) at the counting threshold."""
    from ultralytics import YOLO

    model = YOLO(str(weights))
    out = []
    for r in model.predict(images, imgsz=p.imgsz, conf=p.conf, device=p.device, verbose=False, stream=True):
        b = r.boxes
        out.append(
            np.concatenate([b.xyxy.cpu().numpy(), b.conf.cpu().numpy()[:, None]], axis=1)
            if len(b)
            else np.zeros((0, 5))
        )
    return out


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def split_images(root: str | Path, split: str) -> list[Path]:
    return sorted(p for p in (Path(root) / "images" / split).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def count_mae(weights: str | Path, root: str | Path, split: str, p: TrainParams = TrainParams()) -> tuple[float, float]:
    """Mean absolute count error per image on a dataset split, and seconds per image."""
    root = Path(root)
    imgs = split_images(root, split)
    t0 = time.monotonic()
    pred = count(weights, [str(i) for i in imgs], p)
    secs = (time.monotonic() - t0) / max(len(imgs), 1)
    truth = [len((root / "labels" / split / f"{i.stem}.txt").read_text().split()) // 5 for i in imgs]
    return float(np.mean([abs(len(b) - t) for b, t in zip(pred, truth, strict=True)])), secs


def tune_conf(
    weights: str | Path,
    root: str | Path,
    split: str,
    p: TrainParams = TrainParams(),
    grid: tuple[float, ...] = tuple(np.round(np.arange(0.1, 0.75, 0.05), 2)),
) -> tuple[float, float]:
    """The counting threshold with the least count MAE on a (validation) split, and that MAE:
    an under-trained model is unsure, an over-confident one double-counts touching facings."""
    from dataclasses import replace

    root = Path(root)
    imgs = split_images(root, split)
    truth = np.array([len((root / "labels" / split / f"{i.stem}.txt").read_text().split()) // 5 for i in imgs])
    pred = count(weights, [str(i) for i in imgs], replace(p, conf=min(grid)))
    maes = [float(np.mean(np.abs(np.array([int((b[:, 4] >= c).sum()) for b in pred]) - truth))) for c in grid]
    best = int(np.argmin(maes))
    return float(grid[best]), maes[best]


def params_dict(p: TrainParams) -> dict:
    return asdict(p)
