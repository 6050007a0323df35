"""Where one 2048² block of ``agri_land`` spends its time: reading, slope, the elementwise tail, writing.

Times each step of the model on one interior block of the province inputs (``benchmarks/province.py`` writes them),
on one core, median of 5 after a warm-up, to see what limits a run before fusing or parallelising anything.

Run: ``python benchmarks/block_profile.py [FOLDER]`` (default: the 12 000² province inputs of ``stencil_memory.py``).
"""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import province  # noqa: E402
from cores import timed  # noqa: E402

from evaluate.kernels.classify import downgrade_where, grade_by_thresholds  # noqa: E402
from evaluate.kernels.terrain import horn_slope  # noqa: E402
from evaluate.ops.classify import _kernel_thresholds  # noqa: E402
from models.agri_land import _SILT, _SLOPE  # noqa: E402

BLOCK = 2048


def median_ms(step, repeats: int = 5) -> float:
    return 1e3 * timed(step, repeats)


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else province.DEFAULT_FOLDER / "inputs-12000"
    warnings.filterwarnings("ignore", category=rasterio.errors.NotGeoreferencedWarning)
    at = BLOCK * 2
    padded_window, window = Window(at - 1, at - 1, BLOCK + 2, BLOCK + 2), Window(at, at, BLOCK, BLOCK)

    def read(name, where):  # as a Stack task does: open, read the window, close
        with rasterio.open(folder / name) as src:
            return src.read(1, window=where)

    steps = {"read dem (padded)": lambda: read("dem.tif", padded_window), "read silt": lambda: read("soil_silt.tif", window)}
    dem, silt = read("dem.tif", padded_window), read("soil_silt.tif", window)
    widths = np.full(BLOCK + 2, 30.0)
    slope = horn_slope(dem, widths, widths, False)
    slope_t = _kernel_thresholds(np.asarray(_SLOPE["thresholds_deg"], float))
    silt_t = _kernel_thresholds(np.asarray(_SILT["thresholds_pct"], float)[::-1])
    grades = grade_by_thresholds(slope, slope_t, False)
    silt_class = grade_by_thresholds(silt, silt_t, True)
    lut = np.array([-1, 5, 1, 0], dtype=np.int16)
    profile = dict(driver="GTiff", width=BLOCK, height=BLOCK, count=1, tiled=True, blockxsize=512, blockysize=512, compress="deflate")

    def write(values, predictor):
        with rasterio.MemoryFile() as memory, memory.open(**profile, dtype=values.dtype.name, predictor=predictor) as dst:
            dst.write(values, 1)

    steps.update({
        "Horn slope": lambda: horn_slope(dem, widths, widths, False),
        "grade slope": lambda: grade_by_thresholds(slope, slope_t, False),
        "grade silt": lambda: grade_by_thresholds(silt, silt_t, True),
        "lookup": lambda: lut[silt_class],
        "downgrade": lambda: downgrade_where(grades, lut[silt_class], 5),
        "write slope_deg (float32, deflate)": lambda: write(slope, 3),
        "write agri_land (uint8, deflate)": lambda: write(grades, 2),
    })
    print(f"one {BLOCK}² block of {folder}, one core, median of 5:")
    for name, step in steps.items():
        print(f"  {name:36s} {median_ms(step):8.1f} ms")


if __name__ == "__main__":
    main()
