"""Resume benchmark: a provincial run killed at about half way (SIGKILL), run again, against an uninterrupted run.

It uses the province benchmark's synthetic inputs and config (``benchmarks/province.py``) for the models given
(raster models by default: a table or vector output depends on every block and is computed again in full). Three
runs of ``dualeval run`` in fresh processes:

1. uninterrupted, into ``ref/`` (wall time T);
2. into ``killed/``, sent SIGKILL once its progress line reports ``--kill-at`` percent of the blocks written;
3. the same command again into ``killed/``: it verifies the checkpointed blocks and computes only the rest.

It prints the three wall times, the blocks taken over (from the manifest), the time saved against T, and checks
that every output of the resumed run equals the uninterrupted one, cell for cell.

Usage::

    python benchmarks/resume.py --cells 1e8 --checkpoint 30
    python benchmarks/resume.py --cells 4e6 --models agri_land eco_soil --kill-at 50
"""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import province  # noqa: E402

DEFAULT_MODELS = ["eco_importance", "agri_suit", "urban_suit"]  # with their prerequisites, most of the 双评价 plan; rasters only


def _run(config: Path, kill_at: int | None = None) -> tuple[float, int]:
    """``dualeval run`` in a fresh process, optionally SIGKILLed at ``kill_at`` % of the blocks: (wall s, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "evaluate.cli", "run", str(config)], stderr=subprocess.PIPE, text=True, cwd=ROOT)
    for line in proc.stderr:
        if kill_at is not None and "compute and write rasters:" in line and "%)" in line:
            if int(line.rsplit("(", 1)[1].split("%", 1)[0]) >= kill_at:
                proc.send_signal(signal.SIGKILL)
                break
    proc.stderr.read()
    code = proc.wait()
    return time.perf_counter() - start, code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=float, default=1.6e7, help="grid size in cells (default 1.6e7)")
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, help=f"models to run (default {' '.join(DEFAULT_MODELS)})")
    parser.add_argument("--chunk", type=int, default=1024, help="compute.chunk_size (default 1024)")
    parser.add_argument("--checkpoint", type=float, default=30.0, help="compute.checkpoint_s (default 30)")
    parser.add_argument("--kill-at", type=int, default=50, help="percent of blocks written when the run is killed (default 50)")
    parser.add_argument("--folder", type=Path, default=province.DEFAULT_FOLDER, help=f"inputs (cached) and runs (default {province.DEFAULT_FOLDER})")
    args = parser.parse_args(argv)

    grid = province.Province(args.cells)
    enabled = province.run_models_list(args.models)
    needed = province.needed_inputs(enabled)
    inputs = province.ensure_inputs(args.folder / f"inputs-{grid.side}", grid, needed, regenerate=False)
    configs = {}
    for name in ("ref", "killed"):
        out = args.folder / f"resume-{grid.side}" / name
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        configs[name] = out.parent / f"{name}.yaml"
        province.write_config(configs[name], grid, inputs, needed, out, args.chunk, None, enabled)
        config = yaml.safe_load(configs[name].read_text())
        config["compute"]["checkpoint_s"] = args.checkpoint
        configs[name].write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))

    print(f"{grid.cells:,} cells ({grid.side}²), chunk {args.chunk}, checkpoint every {args.checkpoint:g} s, models: {', '.join(enabled)}", flush=True)
    t_ref, code = _run(configs["ref"])
    assert code == 0, f"the uninterrupted run failed (exit {code})"
    print(f"uninterrupted run:           {t_ref:8.1f} s", flush=True)
    t_killed, code = _run(configs["killed"], kill_at=args.kill_at)
    print(f"run killed at {args.kill_at} % of blocks: {t_killed:8.1f} s (exit {code})", flush=True)
    t_resumed, code = _run(configs["killed"])
    assert code == 0, f"the resumed run failed (exit {code})"
    killed = configs["killed"].parent / "killed"
    manifest = json.loads((killed / "manifest.json").read_text())
    step = next(s for s in manifest["steps"] if s["step"] == "compute and write rasters")
    resumed = step.get("resumed_blocks", {})
    total_blocks = sum(1 for o in manifest["outputs"].values() if o["kind"] == "raster") * int(np.ceil(grid.side / args.chunk)) ** 2
    print(f"re-run (resumed):            {t_resumed:8.1f} s; blocks taken over: {sum(resumed.values())} of {total_blocks}", flush=True)
    print(f"time saved against an uninterrupted run: {t_ref - t_resumed:.1f} s ({(t_ref - t_resumed) / t_ref:.0%}); "
          f"killed + resumed = {t_killed + t_resumed:.1f} s = {(t_killed + t_resumed) / t_ref:.2f} × uninterrupted", flush=True)
    ref = configs["ref"].parent / "ref"
    differing = []
    for name, info in manifest["outputs"].items():
        if info["kind"] != "raster":
            continue
        with rasterio.open(info["path"]) as a, rasterio.open(ref / Path(info["path"]).name) as b:
            for _, window in a.block_windows(1):
                if not np.array_equal(a.read(1, window=window), b.read(1, window=window), equal_nan=True):
                    differing.append(name)
                    break
    print(f"outputs equal to the uninterrupted run: {'all ' + str(len(manifest['outputs'])) if not differing else 'NO: ' + ', '.join(differing)}")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
