"""Zones benchmark: ``ops.polygonize`` against whole-array polygonizers, and the zones model's candidates, in one run.

For each ``--sizes`` side (default 4096 and 8192) this synthesises a class raster of blobby regions (a coarse random
field upsampled and cut into 5 classes, 1 % of cells re-drawn so that small polygons exist too, 0 as background), as
``.npy`` and a tiled GeoTIFF under ``--cache``, then measures each case in a fresh process (one untimed warm-up, then
``--repeats`` timed calls, the median; peak RSS is the process's VmHWM):

- ``shapes``: ``rasterio.features.shapes`` on the whole array (4-connectivity), every shape made a shapely polygon;
- ``gdal_polygonize``: ``gdal_polygonize.py`` (GeoTIFF → GeoPackage), the whole command, timed once per repeat;
- ``ours_eager``: ``ops.polygonize`` on the numpy array (one block: no chunk parallelism), areas off;
- ``ours_dask``: ``ops.polygonize`` on ``--chunk`` chunks read from the ``.npy``, threaded scheduler on every core,
  areas off (the same output as ``shapes``: canonical polygons with global region ids);
- ``ours_dask_areas``: the same with the ellipsoidal CGCS2000 area of every polygon (the zones output's MJ).

Ratios are ``peer s / ours s`` (above 1: we are faster). Target (issue 8): ``ours_dask`` ≥ 2× whole-array ``shapes``,
peak RSS bounded by the chunks in flight. The zones model on a provincial grid is measured by ``benchmarks/province.py``
(it runs every registered model).

Run: ``python benchmarks/zones.py [--sizes 4096 8192] [--chunk 1024] [--repeats 3] [--json F]``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CASES = ("shapes", "gdal_polygonize", "ours_eager", "ours_dask", "ours_dask_areas")
RES, ORIGIN, CRS = 30.0, (400_000.0, 2_550_000.0), "EPSG:4547"


def synth(side: int, folder: Path) -> tuple[Path, Path]:
    """The class raster of one size, cached as .npy and GeoTIFF."""
    import rasterio
    from affine import Affine
    from scipy import ndimage

    npy, tif = folder / f"classes_{side}.npy", folder / f"classes_{side}.tif"
    if npy.exists() and tif.exists():
        return npy, tif
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(side)
    coarse = rng.random((side // 64 + 2, side // 64 + 2))
    field = ndimage.zoom(coarse, 64, order=1)[:side, :side]
    classes = np.digitize(field, [0.15, 0.35, 0.55, 0.75]).astype(np.int16)  # 0 … 4; 0 is background
    redraw = rng.random((side, side)) < 0.01
    classes[redraw] = rng.integers(0, 5, redraw.sum())
    np.save(npy, classes)
    with rasterio.open(tif, "w", driver="GTiff", width=side, height=side, count=1, dtype="int16", crs=CRS, nodata=0,
                       transform=Affine(RES, 0, ORIGIN[0], 0, -RES, ORIGIN[1]), tiled=True, blockxsize=512, blockysize=512,
                       compress="deflate") as dst:
        dst.write(classes, 1)
    return npy, tif


def _peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def worker(case: str, npy: Path, chunk: int, repeats: int) -> dict:
    """One case in this process: warm-up, then the timed calls."""
    import dask
    import rasterio.features
    import shapely

    from evaluate.grid import Grid
    from evaluate.ops.vector import polygonize
    from tests.helpers import raster_of

    side = np.load(npy, mmap_mode="r").shape[0]
    grid = Grid.from_bounds((ORIGIN[0], ORIGIN[1] - side * RES, ORIGIN[0] + side * RES, ORIGIN[1]), RES, CRS)
    if case == "shapes":
        classes = np.load(npy)

        def call():
            return [shapely.geometry.shape(g) for g, _ in rasterio.features.shapes(classes, mask=classes > 0, connectivity=4,
                                                                                  transform=grid.transform)]
    elif case == "ours_eager":
        array = raster_of(np.load(npy), grid)

        def call():
            return polygonize(array, areas=False, grid=grid)
    else:
        import dask.array as da

        from evaluate.grid import coords_of, georeference
        import xarray as xr

        mm = np.load(npy, mmap_mode="r")
        data = da.from_array(mm, chunks=chunk)  # read chunk by chunk inside the timed graph
        array = georeference(xr.DataArray(data, coords=coords_of(grid), dims=("y", "x")), grid)
        areas = case == "ours_dask_areas"

        def call():
            with dask.config.set(scheduler="threads", num_workers=os.cpu_count()):
                return polygonize(array, areas=areas, grid=grid).compute()
    result = call()  # warm-up: numba caches, first touch
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return {"case": case, "wall_s": statistics.median(times), "times": times, "polygons": len(result), "peak_mib": _peak_mib()}


def gdal_polygonize(tif: Path, repeats: int) -> dict | None:
    tool = shutil.which("gdal_polygonize.py")
    if tool is None:
        return None
    times, peak = [], float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(repeats + 1):
            out = Path(tmp) / f"out{k}.gpkg"
            start = time.perf_counter()
            done = subprocess.run(["/usr/bin/time", "-f", "%M", tool, "-q", str(tif), "-f", "GPKG", str(out)], capture_output=True, text=True)
            wall = time.perf_counter() - start
            if done.returncode != 0:
                return {"case": "gdal_polygonize", "error": done.stderr.strip()[-300:]}
            if k:  # the first call warms the page cache
                times.append(wall)
                peak = int(done.stderr.strip().splitlines()[-1]) / 1024.0
        import pyogrio

        polygons = pyogrio.read_info(out)["features"]
    return {"case": "gdal_polygonize", "wall_s": statistics.median(times), "times": times, "polygons": polygons, "peak_mib": peak}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 8192])
    parser.add_argument("--chunk", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "dualeval-bench" / "zones")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", nargs=3, metavar=("CASE", "NPY", "CHUNK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        case, npy, chunk = args.worker
        print(json.dumps(worker(case, Path(npy), int(chunk), args.repeats)))
        return 0
    rows = []
    for side in args.sizes:
        npy, tif = synth(side, args.cache)
        for case in CASES:
            if case == "gdal_polygonize":
                row = gdal_polygonize(tif, args.repeats)
                if row is None:
                    print(f"{side}² gdal_polygonize: not installed (apt-get install gdal-bin python3-gdal)")
                    continue
            else:
                done = subprocess.run([sys.executable, __file__, "--repeats", str(args.repeats), "--worker", case, str(npy), str(args.chunk)],
                                      capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
                if done.returncode != 0:
                    row = {"case": case, "error": done.stderr.strip()[-400:]}
                else:
                    row = json.loads(done.stdout.strip().splitlines()[-1])
            row["side"] = side
            rows.append(row)
            print(json.dumps(row), flush=True)
    print()
    print(f"| side | case | wall s (median) | polygons | polygons/s | peak RSS MiB | shapes s / this s |")
    print("|---|---|---|---|---|---|---|")
    for side in args.sizes:
        mine = {r["case"]: r for r in rows if r["side"] == side and "wall_s" in r}
        base = mine.get("shapes", {}).get("wall_s")
        for case in CASES:
            r = mine.get(case)
            if r is None:
                continue
            ratio = f"{base / r['wall_s']:.2f}" if base else "—"
            print(f"| {side}² | {case} | {r['wall_s']:.2f} | {r['polygons']:,} | {r['polygons'] / r['wall_s']:,.0f} | {r['peak_mib']:.0f} | {ratio} |")
        if "shapes" in mine and "ours_dask" in mine:
            ratio = mine["shapes"]["wall_s"] / mine["ours_dask"]["wall_s"]
            print(f"\ntarget {side}²: ours_dask ≥ 2× whole-array shapes: {ratio:.2f}× {'met' if ratio >= 2 else 'MISSED'}")
    errors = [r for r in rows if "error" in r]
    for r in errors:
        print(f"{r['side']}² {r['case']} failed: {r['error']}")
    if args.json:
        args.json.write_text(json.dumps({"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "cpus": os.cpu_count(), "chunk": args.chunk, "rows": rows}, indent=1))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
