"""Shelf vision without a model: the synthetic generator, the reconciliation rules, bad files."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
from PIL import Image

from stockwise.shelf.images import open_image
from stockwise.shelf.reconcile import reconcile
from stockwise_training.shelf.synthetic import HARD, ShelfConfig, make_dataset, render


def test_boxes_lie_inside_the_image_and_counts_match_the_manifest():
    rng = np.random.default_rng(5)
    for cfg in (ShelfConfig(), HARD):
        for _ in range(10):
            img, boxes, man = render(rng, cfg)
            assert img.size == (cfg.size, cfg.size)
            assert ((boxes >= 0) & (boxes <= cfg.size)).all()
            assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
            assert len(boxes) == man["facings"]
            placed = sum(b["facings"] for b in man["bays"])
            assert man["facings"] == placed - man["occluded"]  # only what the arm hides is unlabelled
            assert all(b["facings"] <= b["expected_facings"] for b in man["bays"])


def test_the_generator_is_seeded_and_photographs_the_stock_it_is_given():
    a = render(np.random.default_rng(1))[0]
    b = render(np.random.default_rng(1))[0]
    assert a.tobytes() == b.tobytes()
    _, _, man = render(np.random.default_rng(2), ShelfConfig(occlusion_prob=0), skus=["X", "Y"], stock={"X": 0, "Y": 2})
    by = {b["sku"]: b["facings"] for b in man["bays"]}
    assert by["X"] == 0 and by["Y"] == min(2, next(b["expected_facings"] for b in man["bays"] if b["sku"] == "Y"))


def test_dataset_folder_is_yolo_format(tmp_path):
    data = make_dataset(tmp_path, {"train": 3, "val": 2}, seed=0, cfg=ShelfConfig(size=96))
    assert "names:" in data.read_text() and "train: images/train" in data.read_text()
    for split, n in (("train", 3), ("val", 2)):
        imgs = sorted((tmp_path / "images" / split).glob("*.jpg"))
        assert len(imgs) == n
        for p in imgs:
            lines = (tmp_path / "labels" / split / f"{p.stem}.txt").read_text().split()
            vals = np.array(lines, dtype=float).reshape(-1, 5)
            assert (vals[:, 0] == 0).all() and ((vals[:, 1:] > 0) & (vals[:, 1:] <= 1)).all()
            man = json.loads((tmp_path / "manifests" / split / f"{p.stem}.json").read_text())
            assert man["facings"] == len(vals)


def test_reconciliation_findings():
    counts = pd.DataFrame(
        {
            "sku": ["A", "B", "C", "D"],
            "location_id": "S",
            "date": pd.Timestamp("2025-12-31"),
            "facings": [0, 1, 5, 4],
            "expected_facings": [4, 6, 5, 4],
            "image": "img.jpg",
        }
    )
    book = pd.DataFrame({"sku": ["A", "B", "C", "D"], "location_id": "S", "on_hand": [12.0, 30.0, 2.0, 9.0]})
    f = reconcile(counts, book).set_index("sku")["finding"].to_dict()
    assert f == {"A": "suspected_phantom", "B": "shelf_gap", "C": "book_low"}  # D is fine


def _png(w, h):
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10, 20, 30)).save(buf, format="PNG")
    return buf.getvalue()


def test_bad_files_are_reported_not_raised():
    ok, chk = open_image(_png(32, 24), "good.png")
    assert chk.ok and ok.size == (32, 24)
    for data, name, words in [
        (b"", "empty.jpg", "empty"),
        (b"%PDF-1.4 not an image", "doc.pdf", "not an image"),
        (_png(64, 64)[:60], "cut.png", "corrupt or truncated"),
        (_png(5000, 5000), "bomb.png", "over the"),
    ]:
        img, chk = open_image(data, name, max_pixels=10_000_000)
        assert img is None and not chk.ok and words in chk.reason, (name, chk.reason)
