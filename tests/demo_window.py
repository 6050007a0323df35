"""A 400 × 400-cell window of the demo region (12 km at 30 m) with every demo input, for model tests and the golden summary."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
import yaml

from evaluate.grid import Grid

ROOT = Path(__file__).resolve().parents[1]
WINDOW = (396000.0, 2528000.0, 408000.0, 2540000.0)  # holds a nature reserve, a fault, roads, towns and several counties
GOLDEN = Path(__file__).resolve().parent / "data" / "demo_window_classes.json"


def window_config(folder: Path, chunk_size: int = 128, out: str = "out") -> dict:
    """configs/demo.yaml on the window: inputs in ``folder`` (generated if missing), outputs in ``folder/out``."""
    from evaluate.demo import write_demo_inputs

    config = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text(encoding="utf-8"))
    write_demo_inputs(folder, Grid.from_bounds(WINDOW, 30.0, config["grid"]["crs"]))
    for spec in config["inputs"].values():
        spec["path"] = str(folder / Path(spec["path"]).name)
    config["grid"]["bounds"] = list(WINDOW)
    config["outputs"]["folder"] = str(folder / out)
    config["compute"]["chunk_size"] = chunk_size
    config.pop("demo")
    return config


def class_summary(outputs: dict[str, Path]) -> dict:
    """Cell counts per class of every class raster, and rounded statistics of every float raster, of a run."""
    summary = {}
    for name, path in sorted(outputs.items()):
        if path.suffix != ".tif":
            continue
        with rasterio.open(path) as src:
            data = src.read(1)
        if data.dtype.kind == "f":
            v = data[np.isfinite(data)].astype(np.float64)
            summary[name] = {"nan": int(data.size - v.size), "mean": float(f"{v.mean():.5g}") if v.size else None}
        else:
            codes, counts = np.unique(data, return_counts=True)
            summary[name] = {str(int(c)): int(n) for c, n in zip(codes, counts)}
    return summary
