"""Shelf vision: the YOLO facing counter on a held-out synthetic test set (needs the vision extra).

    .venv/bin/python bench/shelf_vision.py [--train 200] [--epochs 40] [--imgsz 320]

Trains from the model YAML on synthetic shelves (seed 0, standard settings), then measures on a
test set made with another seed and harder settings (more gaps, occlusion, lighting, shear and
blur): mAP50 and mAP50-95, count MAE per image at the counting threshold, and CPU inference time
per 640-pixel image. Goals: mAP50 >= 0.9 and count MAE <= 0.5 facings per image.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, default=200)
    ap.add_argument("--val", type=int, default=40)
    ap.add_argument("--test", type=int, default=60)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None, help="keep the dataset and runs here")
    a = ap.parse_args()
    out = Path(a.out or tempfile.mkdtemp(prefix="shelf-bench-"))
    from stockwise_training.shelf.yolo import TrainParams, count, count_mae, offline, train

    offline(out / "yolo_cfg")
    from ultralytics import YOLO

    from stockwise_training.shelf.synthetic import HARD, ShelfConfig, make_dataset, render

    cfg = ShelfConfig(size=a.imgsz)
    hard = HARD.__class__(**{**HARD.__dict__, "size": a.imgsz})
    data = make_dataset(out / "train_ds", {"train": a.train, "val": a.val}, seed=0, cfg=cfg)
    test = make_dataset(out / "test_ds", {"val": a.test}, seed=12345, cfg=hard)  # the held-out test set
    p = TrainParams(imgsz=a.imgsz, epochs=a.epochs, device=a.device)
    best, val_metrics, secs = train(data, out / "runs", p)
    m = YOLO(str(best)).val(data=str(test), imgsz=a.imgsz, device=a.device, plots=False, verbose=False,
                            project=str(out / "runs"), name="test", exist_ok=True, workers=0)
    mae, per_img = count_mae(best, out / "test_ds", "val", p)
    # CPU inference at 640 px: photos as a phone would send them
    rng = np.random.default_rng(7)
    imgs = [render(rng, ShelfConfig(size=640))[0] for _ in range(10)]
    count(best, imgs[:1], p)  # warm-up
    t0 = time.monotonic()
    count(best, imgs, TrainParams(imgsz=640, conf=p.conf, device=a.device))
    ms640 = (time.monotonic() - t0) / len(imgs) * 1000
    print(f"\n## shelf vision: {a.train} training images ({a.imgsz}px, seed 0), {a.epochs} epochs on {a.device} "
          f"in {secs / 60:.1f} min; held-out test: {a.test} harder images (seed 12345)\n")
    print("| metric | value | goal |\n|---|---:|---|")
    print(f"| mAP50 (test) | {m.box.map50:.3f} | >= 0.9 {'met' if m.box.map50 >= 0.9 else 'MISSED'} |")
    print(f"| mAP50-95 (test) | {m.box.map:.3f} | |")
    print(f"| count MAE per image (test, conf {p.conf}) | {mae:.2f} | <= 0.5 {'met' if mae <= 0.5 else 'MISSED'} |")
    print(f"| mAP50 (validation, same settings as training) | {val_metrics['mAP50']:.3f} | |")
    print(f"| inference per 640px image ({a.device}) | {ms640:.0f} ms | |")
    print(f"| inference per {a.imgsz}px image ({a.device}, incl. reading) | {per_img * 1000:.0f} ms | |")
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; runs in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
