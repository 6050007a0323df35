"""Peak memory of stencil chains against the grid's width: it must not grow with the number of chunk columns.

For each ``--side`` (default 12 000, 24 000 and 48 000 cells, i.e. 6, 12 and 24 chunk columns of 2048) this
writes (or reuses) the synthetic province DEM and silt of ``benchmarks/province.py`` as tiled zstd GeoTIFFs, then
in a fresh process per case builds the Stack from them and writes the outputs of a chain with the run's writer
(``evaluate.io.write_rasters``, local threads), measuring that process's wall time and peak RSS:

- ``slope_grade``: the ``agri_land`` model (Horn slope → slope grade, silt grade → downgrade), two outputs;
- ``three_stencils``: focal mean over 90 m of the DEM → Horn slope of that → focal max over 90 m, graded; two outputs.

The issue's target: peak RSS at the three sizes within 15 % of each other, for each chain, with results
bit-identical to the eager and gathered (``da.overlap``) paths (checked by the test suite, not here).

Run: ``python benchmarks/stencil_memory.py [--side 12000 --side 24000 --side 48000] [--chunk 2048] [--json F]``.
"""
from __future__ import annotations

import argparse
import os
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import province  # noqa: E402  (the synthetic province's grid, recipes and cached inputs)

CHAINS = ("slope_grade", "three_stencils")


def worker(chain: str, inputs_folder: Path, side: int, chunk: int, out: Path) -> None:
    """Build and write one chain (runs in its own process)."""
    import numpy as np

    from evaluate import io, ops
    from evaluate.config import InputSpec
    from evaluate.grid import Grid
    from evaluate.layers import build_stack
    from models import MODELS

    grid = Grid.from_raster(inputs_folder / "dem.tif")
    specs = {
        "dem": InputSpec(path=inputs_folder / "dem.tif", kind="continuous", units="m"),
        "soil_silt": InputSpec(path=inputs_folder / "soil_silt.tif", kind="continuous", units="percent"),
    }
    stack = build_stack(specs, grid, chunk)
    model = MODELS["agri_land"]
    params = {k: v["value"] for k, v in model.SPEC.resolve({}).items()}
    if chain == "slope_grade":
        result = model.run(stack, params)
        arrays = {"agri_land": result["agri_land"], "slope_deg": result["slope_deg"]}
    else:
        smooth = ops.focal(stack["dem"], "mean", radius_m=90.0, grid=grid)
        steepest = ops.focal(ops.slope(smooth, grid=grid), "max", radius_m=90.0, grid=grid)
        arrays = {"agri_land": ops.grade(steepest, params["slope_thresholds_deg"], better="smaller"), "slope_deg": steepest.astype(np.float32)}
    outputs = {n: io.RasterOutput(n, a, model.SPEC.outputs[n], {}) for n, a in arrays.items()}
    stats: dict = {}
    io.write_rasters(outputs, out, grid, compress=os.environ.get("DUALEVAL_BENCH_COMPRESS", "deflate"), stats=stats)
    print(json.dumps(stats))


def measure(chain: str, inputs_folder: Path, side: int, chunk: int, folder: Path) -> dict:
    out = folder / f"mem-{chain}-{side}"
    log = folder / f"mem-{chain}-{side}.log"
    argv = [sys.executable, "-S", "-c", province._LAUNCHER, str(log), sys.executable, str(Path(__file__).resolve()),
            "--worker", chain, str(inputs_folder), str(side), str(chunk), str(out)]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    fields = done.stdout.split()
    if len(fields) != 3 or fields[0] != "0":
        raise SystemExit(f"stencil_memory.py: {chain} at {side}² failed; its log:\n" + log.read_text(errors="replace")[-3000:])
    stats = json.loads(log.read_text().strip().splitlines()[-1])
    for tif in out.glob("*.tif"):
        tif.unlink()
    return {"chain": chain, "side": side, "cells": side * side, "chunk_columns": -(-side // chunk), "wall_s": round(float(fields[1]), 1),
            "peak_rss_mib": round(int(fields[2]) / 1024.0), "write_s": stats["write_s"], "total_s": round(time.perf_counter() - start, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, action="append", help="grid side in cells (repeatable)")
    parser.add_argument("--chunk", type=int, default=2048)
    parser.add_argument("--chain", action="append", choices=CHAINS)
    parser.add_argument("--folder", type=Path, default=province.DEFAULT_FOLDER)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        chain, inputs_folder, side, chunk, out = args.worker
        worker(chain, Path(inputs_folder), int(side), int(chunk), Path(out))
        return 0
    sides = args.side or [12_000, 24_000, 48_000]
    chains = args.chain or list(CHAINS)
    recipes = province.needed_inputs()
    needed = {n: recipes[n] for n in ("dem", "soil_silt")}
    rows = []
    for side in sides:
        grid = province.Province(side * side)
        inputs_folder = args.folder / f"inputs-{grid.side}"
        province.ensure_inputs(inputs_folder, grid, needed, regenerate=False)
        for chain in chains:
            row = measure(chain, inputs_folder, grid.side, args.chunk, args.folder)
            rows.append(row)
            print(f"{chain:15s} {side:>6d}² ({row['chunk_columns']:>2d} chunk columns): wall {row['wall_s']:7.1f} s, "
                  f"peak RSS {row['peak_rss_mib']:6.0f} MiB, GDAL writes {row['write_s']}", flush=True)
    print("\n| chain | side | chunk columns | wall s | Mcells/s | peak RSS MiB | vs smallest |\n|---|---|---|---|---|---|---|")
    for chain in chains:
        mine = [r for r in rows if r["chain"] == chain]
        for r in mine:
            print(f"| {chain} | {r['side']:,} | {r['chunk_columns']} | {r['wall_s']} | {r['cells'] / r['wall_s'] / 1e6:.1f} | "
                  f"{r['peak_rss_mib']} | {r['peak_rss_mib'] / mine[0]['peak_rss_mib']:.2f} |")
        spread = max(r["peak_rss_mib"] for r in mine) / min(r["peak_rss_mib"] for r in mine) - 1
        print(f"{chain}: peak RSS spread {100 * spread:.0f} % (target ≤ 15 %): {'met' if spread <= 0.15 else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
