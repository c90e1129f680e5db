"""Shelf photos of the demo ERP's stores, consistent with what is physically on its shelves.

For the run date, a sample of store x sku bays (every bay whose book shows stock while the shelf
is empty - the demo's phantom stock - plus others drawn with a seed) is photographed: a few bays
per photo, each sku's facings filled as far as its physical units go. The photos and their
planogram land in the lake (`shelf/images/ds=D/`), as a store's handheld upload would.
"""

from __future__ import annotations

import io
import json
from datetime import date

import numpy as np
import pandas as pd

from stockwise import catalog, lake
from stockwise.settings import Settings
from stockwise_training.shelf.synthetic import ShelfConfig, render


def photograph(
    physical: pd.DataFrame, ds: date, bays: int = 40, per_photo: int = 4, seed: int = 0, size: int = 320
) -> dict[str, bytes]:
    """Files for the `shelf/images` partition: <location>/<photo>.jpg and planogram.json."""
    rng = np.random.default_rng(seed)
    phantom = physical[(physical["book"] > 0) & (physical["on_hand"] <= 0)]
    rest = physical.drop(phantom.index)
    extra = rest.sample(n=max(0, min(len(rest), bays - len(phantom))), random_state=seed)
    chosen = pd.concat([phantom, extra]).sort_values(["location_id", "sku"])
    files, planogram = {}, []
    for loc, g in chosen.groupby("location_id"):
        g = g.sample(frac=1.0, random_state=seed)
        for k in range(0, len(g), per_photo):
            part = g.iloc[k : k + per_photo]
            stock = dict(zip(part["sku"], part["on_hand"].clip(lower=0).round().astype(int), strict=True))
            img, _, man = render(
                rng,
                ShelfConfig(size=size, rows=(2, 2), bays=(2, 2), occlusion_prob=0.0),
                skus=list(part["sku"]),
                stock=stock,
            )
            name = f"{loc}/photo_{k // per_photo:03d}.jpg"
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=90)
            files[name] = buf.getvalue()
            for b in man["bays"]:
                planogram.append(
                    {
                        "image": name,
                        "location_id": loc,
                        "sku": b["sku"],
                        "region": b["region"],
                        "expected_facings": b["expected_facings"],
                        "true_facings": b["facings"],
                    }
                )
    files["planogram.json"] = json.dumps({"ds": ds.isoformat(), "bays": planogram}, indent=1).encode()
    return files


def run(ds: date, settings: Settings | None = None, bays: int = 40) -> dict:
    """Photograph the demo ERP's shelves for `ds` (its last day) into the lake."""
    import sqlalchemy as sa

    from stockwise.errors import ConfigError

    settings = settings or Settings()
    engine = sa.create_engine(settings.truth)
    if not sa.inspect(engine).has_table("physical_on_hand"):
        raise ConfigError(
            f"{settings.truth} has no physical_on_hand table: the demo ERP predates shelf photos; "
            "regenerate it with `make demo`"
        )
    with engine.connect() as c:
        physical = pd.read_sql("SELECT sku, location_id, on_hand, book FROM physical_on_hand", c)
    files = photograph(physical, ds, bays=bays)
    store = lake.open_lake(settings)
    part = catalog.SHELF_IMAGES.write(store, ds, files, meta={"photos": len(files) - 1})
    return {
        "ds": ds.isoformat(),
        "photos": len(files) - 1,
        "uri": store.uri(lake.partition_prefix(part.dataset, ds.isoformat())),
    }
