"""Regenerate the committed golden files (needs GDAL's command-line tools).

    python tests/data/make_goldens.py            # the gdaldem parity goldens
    python tests/data/make_goldens.py --demo     # the demo-window class summary (after a reviewed change of the science)

- srtm_boulder_utm13n.tif: the shared SRTM sample warped to UTM 13N at 90 m
  (gdalwarp -r bilinear), the planar parity DEM;
- slope_golden_synthetic.npy / slope_golden_srtm_utm.npy: ``gdaldem slope
  -compute_edges`` of tests.helpers.terrain(90, 110) and of the UTM DEM, used by
  the parity tests when gdaldem is not installed.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.helpers import terrain, write_raster  # noqa: E402


def gdaldem_slope(dem: Path) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "slope.tif"
        subprocess.run(["gdaldem", "slope", "-compute_edges", "-q", str(dem), str(out)], check=True)
        with rasterio.open(out) as src:
            return src.read(1)


def main() -> None:
    subprocess.run(
        ["gdalwarp", "-q", "-overwrite", "-t_srs", "EPSG:32613", "-tr", "90", "90", "-r", "bilinear", "-dstnodata", "-9999",
         "-ot", "Float32", str(HERE / "srtm_boulder_3arcsec.tif"), str(HERE / "srtm_boulder_utm13n.tif")],
        check=True,
    )
    np.save(HERE / "slope_golden_srtm_utm.npy", gdaldem_slope(HERE / "srtm_boulder_utm13n.tif"))
    with tempfile.TemporaryDirectory() as tmp:
        dem = write_raster(Path(tmp) / "dem.tif", terrain(90, 110))
        np.save(HERE / "slope_golden_synthetic.npy", gdaldem_slope(dem))


def demo_golden() -> None:
    """tests/data/demo_window_classes.json: the class summary of every output of configs/demo.yaml on the test window."""
    import json

    from evaluate.config import parse_config
    from evaluate.runner import run
    from tests.demo_window import GOLDEN, class_summary, window_config

    with tempfile.TemporaryDirectory() as tmp:
        config = window_config(Path(tmp))
        result = run(parse_config(config, source=Path(tmp) / "demo.yaml", base_dir=Path(tmp)))
        GOLDEN.write_text(json.dumps(class_summary(result.outputs), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")


if __name__ == "__main__":
    demo_golden() if "--demo" in sys.argv[1:] else main()
