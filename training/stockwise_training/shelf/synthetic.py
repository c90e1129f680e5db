"""A seeded generator of synthetic shelf photos with YOLO labels and a planogram per image.

Each image is a shop shelf: a few rows (boards), each split into bays; a bay holds one sku's
facings side by side (size, colour and label pattern per sku), some missing (a gap where stock
is out). Then what makes real photos hard: price tags on the boards, a partial occlusion (a
shopper's arm), lighting and colour shifts, a slight perspective (shear and scale, the boxes
transformed with it) and blur. Labels: one class, `facing`, YOLO format (class cx cy w h,
normalised). The planogram manifest says, per bay, the sku, its region in the image, the
facings the planogram expects and how many are on the shelf.

`make_dataset` writes a folder any YOLO trainer reads (images/ and labels/ per split plus
data.yaml): the training code takes any such folder, so a user can train on their own photos.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

CLASS_NAMES = ["facing"]


@dataclass(frozen=True)
class ShelfConfig:
    size: int = 320
    rows: tuple[int, int] = (2, 4)
    bays: tuple[int, int] = (2, 3)  # per row
    facings: tuple[int, int] = (2, 6)  # expected per bay
    out_prob: float = 0.25  # chance a facing is missing
    empty_bay_prob: float = 0.08  # a whole bay out of stock
    occlusion_prob: float = 0.3
    lighting: tuple[float, float] = (0.75, 1.25)
    colour_shift: float = 18.0
    shear: float = 0.04
    blur: tuple[float, float] = (0.0, 0.8)
    min_visible: float = 0.5  # a facing hidden more than this is not labelled


# between the two: training mixes it in; the held-out test stays harder still
MEDIUM = ShelfConfig(
    out_prob=0.28,
    empty_bay_prob=0.1,
    occlusion_prob=0.4,
    lighting=(0.68, 1.3),
    colour_shift=24.0,
    shear=0.055,
    blur=(0.15, 1.05),
)
HARD = ShelfConfig(
    out_prob=0.3,
    empty_bay_prob=0.12,
    occlusion_prob=0.5,
    lighting=(0.6, 1.35),
    colour_shift=30.0,
    shear=0.07,
    blur=(0.3, 1.3),
)


def _sku_look(rng: np.random.Generator) -> dict:
    return {
        "colour": tuple(int(c) for c in rng.integers(30, 230, 3)),
        "band": tuple(int(c) for c in rng.integers(0, 255, 3)),
        "width": float(rng.uniform(0.75, 1.0)),
        "height": float(rng.uniform(0.55, 0.92)),
        "pattern": int(rng.integers(0, 3)),
    }


def render(
    rng: np.random.Generator,
    cfg: ShelfConfig = ShelfConfig(),
    skus: list[str] | None = None,
    stock: dict[str, int] | None = None,
) -> tuple[Image.Image, np.ndarray, dict]:
    """One shelf photo, its boxes [n, 4] (x0, y0, x1, y1 in pixels) and its planogram manifest.

    `skus`: the skus to place (default: made up); `stock`: facings actually on the shelf per sku
    (default: random gaps) - the demo ERP uses it to photograph what its physical stock is.
    Steps, drawing from `rng` in this order: the shelf and its facings, an occluding arm,
    lighting and colour, a slight perspective, blur."""
    S = cfg.size
    img = Image.new("RGB", (S, S), tuple(int(c) for c in rng.integers(170, 225, 3)))
    draw = ImageDraw.Draw(img)
    boxes_a, bays = _stock_shelf(rng, cfg, draw, skus, stock)
    visible = _occlude(rng, cfg, draw, boxes_a)
    # lighting and colour
    arr = np.asarray(img, dtype=float) * rng.uniform(*cfg.lighting)
    arr += rng.uniform(-cfg.colour_shift, cfg.colour_shift, 3)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    img, boxes_a = _perspective(rng, cfg, img, boxes_a, bays)
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(*cfg.blur)))
    keep = visible & ((boxes_a[:, 2] - boxes_a[:, 0]) > 2) & ((boxes_a[:, 3] - boxes_a[:, 1]) > 2)
    manifest = {"size": S, "bays": bays, "facings": int(keep.sum()), "occluded": int((~visible).sum())}
    return img, boxes_a[keep], manifest


def _stock_shelf(
    rng: np.random.Generator,
    cfg: ShelfConfig,
    draw: ImageDraw.ImageDraw,
    skus: list[str] | None,
    stock: dict[str, int] | None,
) -> tuple[np.ndarray, list[dict]]:
    """Rows of bays, each a sku's facings (some missing), a board and a price tag per bay."""
    S = cfg.size
    n_rows = int(rng.integers(cfg.rows[0], cfg.rows[1] + 1))
    row_h = S / n_rows
    boxes: list[tuple] = []
    bays: list[dict] = []
    k = 0
    for r in range(n_rows):
        y1 = (r + 1) * row_h - row_h * 0.08
        board = (0, y1, S, min(S, y1 + row_h * 0.08))
        draw.rectangle(board, fill=(110, 80, 50))
        n_bays = int(rng.integers(cfg.bays[0], cfg.bays[1] + 1))
        bay_w = S / n_bays
        for b in range(n_bays):
            sku = skus[k % len(skus)] if skus else f"SKU{int(rng.integers(0, 10_000)):05d}"
            k += 1
            expected = int(rng.integers(cfg.facings[0], cfg.facings[1] + 1))
            if stock is not None and sku in stock:
                present = min(expected, max(0, int(stock[sku])))
                on = np.zeros(expected, dtype=bool)
                on[:present] = True
            else:
                on = rng.random(expected) >= cfg.out_prob
                if rng.random() < cfg.empty_bay_prob:
                    on[:] = False
            x_bay = b * bay_w
            _draw_facings(draw, sku, on, x_bay, bay_w, y1, row_h, boxes)
            # the price tag under the bay: on the board, not a facing
            draw.rectangle((x_bay + bay_w * 0.4, y1 + 1, x_bay + bay_w * 0.6, y1 + row_h * 0.07), fill=(250, 250, 245))
            bays.append(
                {
                    "row": r,
                    "bay": b,
                    "sku": sku,
                    "expected_facings": expected,
                    "facings": int(on.sum()),
                    "region": [x_bay, r * row_h, x_bay + bay_w, y1],
                }
            )
    return np.array(boxes, dtype=float).reshape(-1, 4), bays


def _draw_facings(
    draw: ImageDraw.ImageDraw,
    sku: str,
    on: np.ndarray,
    x_bay: float,
    bay_w: float,
    y1: float,
    row_h: float,
    boxes: list[tuple],
) -> None:
    look = _sku_look(np.random.default_rng(zlib.crc32(sku.encode())))  # a sku always looks the same
    expected = len(on)
    slot = bay_w / expected
    fw, fh = slot * look["width"] * 0.92, (row_h * 0.9) * look["height"]
    for i in range(expected):
        if not on[i]:
            continue
        x0 = x_bay + i * slot + (slot - fw) / 2
        y0 = y1 - fh
        draw.rectangle((x0, y0, x0 + fw, y1), fill=look["colour"], outline=(40, 40, 40))
        band_y = y0 + fh * 0.35
        draw.rectangle((x0 + 1, band_y, x0 + fw - 1, band_y + fh * 0.2), fill=look["band"])
        if look["pattern"] == 1:
            draw.ellipse((x0 + fw * 0.3, y0 + fh * 0.65, x0 + fw * 0.7, y0 + fh * 0.9), fill=look["band"])
        elif look["pattern"] == 2:
            for s in range(3):
                xs = x0 + fw * (0.2 + 0.25 * s)
                draw.line((xs, y0 + fh * 0.65, xs, y0 + fh * 0.95), fill=look["band"], width=2)
        boxes.append((x0, y0, x0 + fw, y1))


def _occlude(rng: np.random.Generator, cfg: ShelfConfig, draw: ImageDraw.ImageDraw, boxes_a: np.ndarray) -> np.ndarray:
    """Maybe a shopper's arm across part of the shelf; facings mostly behind it are not labelled."""
    S = cfg.size
    visible = np.ones(len(boxes_a), dtype=bool)
    if rng.random() < cfg.occlusion_prob and len(boxes_a):
        cx, cy = rng.uniform(0.2, 0.8) * S, rng.uniform(0.2, 0.8) * S
        w, h = rng.uniform(0.08, 0.16) * S, rng.uniform(0.25, 0.5) * S
        occ = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        draw.rounded_rectangle(occ, radius=int(w / 3), fill=(205, 160, 130))
        ix = np.clip(np.minimum(boxes_a[:, 2], occ[2]) - np.maximum(boxes_a[:, 0], occ[0]), 0, None)
        iy = np.clip(np.minimum(boxes_a[:, 3], occ[3]) - np.maximum(boxes_a[:, 1], occ[1]), 0, None)
        area = (boxes_a[:, 2] - boxes_a[:, 0]) * (boxes_a[:, 3] - boxes_a[:, 1])
        visible = 1 - ix * iy / np.maximum(area, 1e-9) >= cfg.min_visible
    return visible


def _perspective(
    rng: np.random.Generator, cfg: ShelfConfig, img: Image.Image, boxes_a: np.ndarray, bays: list[dict]
) -> tuple[Image.Image, np.ndarray]:
    """A slight shear and scale about the centre; the boxes and bay regions follow exactly."""
    S = cfg.size
    sh, sc = rng.uniform(-cfg.shear, cfg.shear), rng.uniform(1 - cfg.shear, 1 + cfg.shear)
    A = np.array([[sc, sh, 0.0], [0.0, sc, 0.0], [0.0, 0.0, 1.0]])
    c = np.array([[1, 0, S / 2], [0, 1, S / 2], [0, 0, 1]]) @ A @ np.array([[1, 0, -S / 2], [0, 1, -S / 2], [0, 0, 1]])
    inv = np.linalg.inv(c)
    img = img.transform(
        (S, S),
        Image.Transform.AFFINE,
        tuple(inv[:2].ravel()),
        resample=Image.Resampling.BILINEAR,
        fillcolor=(190, 190, 190),
    )
    if len(boxes_a):
        corners = np.stack([boxes_a[:, [0, 1]], boxes_a[:, [2, 1]], boxes_a[:, [0, 3]], boxes_a[:, [2, 3]]], axis=1)
        pts = np.concatenate([corners, np.ones(corners.shape[:2] + (1,))], axis=2) @ c.T
        boxes_a = np.clip(np.concatenate([pts[..., :2].min(axis=1), pts[..., :2].max(axis=1)], axis=1), 0, S)
        for bay in bays:
            reg = np.array(bay["region"])
            q = np.array([[reg[0], reg[1], 1], [reg[2], reg[3], 1]]) @ c.T
            bay["region"] = [round(float(v), 1) for v in (*q[0, :2], *q[1, :2])]
    return img, boxes_a


def yolo_lines(boxes: np.ndarray, size: int) -> list[str]:
    cx = (boxes[:, 0] + boxes[:, 2]) / 2 / size
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 / size
    w = (boxes[:, 2] - boxes[:, 0]) / size
    h = (boxes[:, 3] - boxes[:, 1]) / size
    return [f"0 {a:.6f} {b:.6f} {c:.6f} {d:.6f}" for a, b, c, d in zip(cx, cy, w, h, strict=True)]


def make_dataset(
    folder: str | Path,
    n: dict[str, int],
    seed: int = 0,
    cfg: ShelfConfig = ShelfConfig(),
    test_cfg: ShelfConfig | None = None,
    mix: ShelfConfig | None = None,
    mix_share: float = 0.0,
) -> Path:
    """Write images/<split>/*.jpg, labels/<split>/*.txt, manifests/<split>/*.json and data.yaml.
    `test_cfg`: harder settings for the test split (held out: its own seed stream); `mix`: other
    settings used for a `mix_share` of the other splits' images."""
    root = Path(folder)
    for split, count in n.items():
        rng = np.random.default_rng([seed, zlib.crc32(split.encode())])
        c = test_cfg if (split == "test" and test_cfg is not None) else cfg
        for sub in ("images", "labels", "manifests"):
            (root / sub / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            ci = mix if (mix is not None and split != "test" and rng.random() < mix_share) else c
            img, boxes, man = render(rng, ci)
            stem = f"{split}_{i:05d}"
            img.save(root / "images" / split / f"{stem}.jpg", quality=92)
            (root / "labels" / split / f"{stem}.txt").write_text("\n".join(yolo_lines(boxes, c.size)) + "\n")
            (root / "manifests" / split / f"{stem}.json").write_text(json.dumps({**man, "config": asdict(ci)}))
    splits = {s: f"images/{s}" for s in n}
    if "train" not in splits:  # a test-only set: YOLO's loader still wants a train entry
        splits = {"train": next(iter(splits.values())), **splits}
    (root / "data.yaml").write_text(
        f"path: {root.resolve()}\n"
        + "".join(f"{s}: {p}\n" for s, p in splits.items())
        + f"names:\n  0: {CLASS_NAMES[0]}\n"
    )
    return root / "data.yaml"
