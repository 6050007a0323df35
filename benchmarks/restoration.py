"""Restoration benchmark: MCR cost distance and least-cost corridors against scikit-image, circuit current against a direct solve.

On a synthetic 三调 land use (``evaluate.synthetic``, 30 m cells, EPSG:4547, the same world as ``benchmarks/ops.py``)
turned into the §9.3 resistance surface by ``models/tables/restoration.yaml`` (``network.resistance_from_landuse``), with
two square sources A (upper left) and B (lower right) of side n/64, each case runs in a fresh process (one untimed
warm-up, then ``--repeats`` timed calls, the median; peak RSS is the process's VmHWM):

- ``mcr``, ``--mcr-sizes`` (default 4096²): multi-source MCR from A ∪ B (methods.md §9.3 item 3, ArcGIS ``CostDistance``
  edges: length × mean resistance, 8 neighbours).
  *ours*: ``evaluate.ops.cost_distance`` (numba Dijkstra, binary heap), eager, uncapped;
  *peer*: ``skimage.graph.MCP_Geometric(fully_connected=True, sampling=(30, 30)).find_costs`` (construction included).
- ``corridor``, same sizes: CWD_A, CWD_B and NLCC = CWD_A + CWD_B − min(CWD_A + CWD_B) (§9.3 item 4), by each tool.
- ``circuit``, ``--circuit-sizes`` (default 1024² and 2048²): 1 A from A to B (§9.3 item 5; Circuitscape pairwise):
  *ours*: ``models.restoration.network.CircuitSolver`` (graph, grounded Laplacian, sparse LU up to 400 000 nodes, else
  smoothed-aggregation AMG + CG to rtol 1e-10), current density and R_eff;
  *peer*: the same Laplacian assembled here independently, solved by ``scipy.sparse.linalg.factorized`` (SuperLU).

Agreement (ours against the peer, same inputs): max |Δ| and max |Δ| / max |peer| of MCR / NLCC / current density, and
the relative difference of R_eff. Ratios are ``peer s / ours s`` (above 1: we are faster).

Ours runs with ``DUALEVAL_THREADS=1``: the kernel is one serial Dijkstra, and the eager path of
``evaluate.ops.cost_distance`` splits grids of ≥ 2²⁰ cells into row strips with a halo of 0 when it has more than one
thread, which cuts paths at the strip edges (the agreement column catches it); the peers are serial too.

Run: ``python benchmarks/restoration.py [--mcr-sizes 4096] [--circuit-sizes 1024 2048] [--repeats 3] [--quick] [--json F]``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# the repository first, and not this folder: benchmarks/models.py would shadow the models package
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() not in (ROOT, Path(__file__).resolve().parent)]

RES, ORIGIN, CRS, SEED = 30.0, (400_000.0, 2_550_000.0), "EPSG:4547", 0
MAX_COST = 1e300  # "uncapped": ops.cost_distance needs a finite cap; the eager path needs no halo
#: the direct solve of the peer is skipped above this many nodes (SuperLU's fill-in on a 2-D grid grows faster than n)
PEER_MAX_NODES_DEFAULT = 5_000_000


def _grid(side: int):
    from affine import Affine

    from evaluate.grid import Grid

    return Grid(CRS, Affine(RES, 0.0, ORIGIN[0], 0.0, -RES, ORIGIN[1]), (side, side))


def synth(side: int, folder: Path) -> Path:
    """Resistance (float64, NaN = nodata) and the two source squares of one size, cached as one .npz."""
    path = folder / f"restoration_{side}.npz"
    if path.exists():
        return path
    from evaluate.synthetic import grid_metric_coords, raster_blocks
    from models._tables import table
    from models.restoration.network import resistance_from_landuse

    folder.mkdir(parents=True, exist_ok=True)
    grid = _grid(side)
    landuse = np.empty((side, side), np.int16)
    for r0 in range(0, side, 256):  # strips: the generator's intermediate fields stay small
        rows = slice(r0, min(side, r0 + 256))
        x, y = grid_metric_coords(grid, rows)
        landuse[rows] = raster_blocks(["landuse"], x, y, SEED)["landuse"]
    spec = table("restoration")["resistance_by_landuse"]  # the model's own table (one home for tables)
    groups = {float(k): v for k, v in spec["groups"].items()}
    resistance = resistance_from_landuse(landuse, groups, float(spec["default"]), tuple(spec["clip"]))
    sources = np.zeros((side, side), np.int8)
    w, at = max(4, side // 64), side // 8
    sources[at: at + w, at: at + w] = 1
    sources[side - at - w: side - at, side - at - w: side - at] = 2
    sources[~np.isfinite(resistance)] = 0
    np.savez(path, resistance=resistance, sources=sources)
    return path


def _peak_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def _ours_cost(resistance: np.ndarray, mask: np.ndarray) -> np.ndarray:
    from evaluate.ops.distance import cost_distance
    from tests.helpers import raster_of

    grid = _grid(resistance.shape[0])
    out = cost_distance(raster_of(mask.astype(np.uint8), grid), raster_of(resistance, grid), MAX_COST, min_resistance=1.0, beyond=np.inf,
                        grid=grid)
    return np.asarray(out.values)


def _skimage_cost(resistance: np.ndarray, mask: np.ndarray) -> np.ndarray:
    from skimage.graph import MCP_Geometric

    costs = np.where(np.isfinite(resistance), resistance, np.inf)
    mcp = MCP_Geometric(costs, fully_connected=True, sampling=(RES, RES))
    cumulative, _ = mcp.find_costs(np.argwhere(mask))
    return np.where(np.isfinite(resistance), cumulative, np.nan)


def _nlcc(cost, resistance, sources) -> np.ndarray:
    total = cost(resistance, sources == 1) + cost(resistance, sources == 2)
    return total - np.nanmin(total)


def _scipy_circuit(resistance: np.ndarray, sources: np.ndarray) -> tuple[np.ndarray, float]:
    """The Circuitscape pairwise Laplacian assembled independently, solved by SuperLU (``factorized``)."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import factorized

    rows, cols = resistance.shape
    valid = np.isfinite(resistance) & (resistance > 0)
    g = np.zeros(resistance.shape)
    g[valid] = 1.0 / resistance[valid]
    # node numbers: A = 0, B = 1 (each patch short-circuited into one node), every other valid cell its own node
    node = np.full(resistance.shape, -1, np.int64)
    free = valid & (sources == 0)
    node[free] = 2 + np.arange(int(free.sum()))
    node[valid & (sources == 1)] = 0
    node[valid & (sources == 2)] = 1
    n = 2 + int(free.sum())
    ends, weights = [], []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = (slice(0, rows - dy), slice(max(0, -dx), cols - max(0, dx)))
        b = (slice(dy, rows), slice(max(0, dx), cols + min(0, dx)))
        both = valid[a] & valid[b]
        ends.append((a, b, both))
        weights.append(0.5 * (g[a][both] + g[b][both]) / math.hypot(dy, dx))
    i = np.concatenate([node[a][both] for a, _, both in ends])
    j = np.concatenate([node[b][both] for _, b, both in ends])
    w = np.concatenate(weights)
    inner = i != j
    off = sp.coo_matrix((-w[inner], (i[inner], j[inner])), shape=(n, n))
    off = (off + off.T).tocsr()
    lap = off - sp.diags(np.asarray(off.sum(axis=1)).ravel())
    keep = np.r_[0, np.arange(2, n)]  # ground B (node 1)
    solve = factorized(lap[keep][:, keep].tocsc())
    rhs = np.zeros(keep.size)
    rhs[0] = 1.0
    volts = np.zeros(n)
    volts[keep] = solve(rhs)
    cell_v = np.where(node >= 0, volts[np.maximum(node, 0)], 0.0)
    current = np.zeros(resistance.shape)
    for (a, b, both), wk in zip(ends, weights):
        branch = wk * np.abs(cell_v[a][both] - cell_v[b][both])
        np.add.at(current[a], np.nonzero(both), branch)  # views: current[a] writes through to current
        np.add.at(current[b], np.nonzero(both), branch)
    return 0.5 * current, float(volts[0] - volts[1])


def _ours_circuit(resistance: np.ndarray, sources: np.ndarray) -> tuple[np.ndarray, float]:
    from models.restoration.network import CircuitSolver

    return CircuitSolver(resistance, sources.astype(np.int64)).pair(1, 2)


def worker(case: str, tool: str, npz: Path, repeats: int, out: Path) -> dict:
    """One (case, tool) in this process: warm-up, then the timed calls; the last result saved to ``out``."""
    data = np.load(npz)
    resistance, sources = data["resistance"], data["sources"]
    calls = {
        ("mcr", "ours"): lambda: _ours_cost(resistance, sources > 0),
        ("mcr", "skimage"): lambda: _skimage_cost(resistance, sources > 0),
        ("corridor", "ours"): lambda: _nlcc(_ours_cost, resistance, sources),
        ("corridor", "skimage"): lambda: _nlcc(_skimage_cost, resistance, sources),
        ("circuit", "ours"): lambda: _ours_circuit(resistance, sources),
        ("circuit", "scipy"): lambda: _scipy_circuit(resistance, sources),
    }
    call = calls[(case, tool)]
    result = call()  # warm-up: numba cache load, first touch of memory
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    extra = {}
    if case == "circuit":
        result, extra["r_eff"] = result
    np.save(out, np.asarray(result, dtype=np.float64))
    return {"case": case, "tool": tool, "wall_s": statistics.median(times), "times": times, "peak_mib": _peak_mib(), **extra}


def agreement(ours: np.ndarray, peer: np.ndarray) -> dict:
    """max |Δ| and max |Δ| / max |peer| over cells finite in both, and how many cells are finite in one only."""
    both = np.isfinite(ours) & np.isfinite(peer)
    diff = np.abs(ours[both] - peer[both])
    scale = float(np.abs(peer[both]).max()) if both.any() else float("nan")
    return {"max_abs": float(diff.max()) if diff.size else float("nan"), "max_rel": float(diff.max() / scale) if diff.size and scale else float("nan"),
            "finite_mismatch": int((np.isfinite(ours) != np.isfinite(peer)).sum())}


PAIRS = {"mcr": ("ours", "skimage"), "corridor": ("ours", "skimage"), "circuit": ("ours", "scipy")}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mcr-sizes", type=int, nargs="*", default=[4096])
    parser.add_argument("--circuit-sizes", type=int, nargs="*", default=[1024, 2048])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small sizes (512² MCR and corridors, 256² and 512² circuits), 1 repeat")
    parser.add_argument("--peer-max-nodes", type=int, default=PEER_MAX_NODES_DEFAULT, help="skip the direct solve above this many nodes")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per measuring process")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "dualeval-bench" / "restoration")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", nargs=4, metavar=("CASE", "TOOL", "NPZ", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        case, tool, npz, out = args.worker
        print(json.dumps(worker(case, tool, Path(npz), args.repeats, Path(out))))
        return 0
    if args.quick:
        args.mcr_sizes, args.circuit_sizes, args.repeats = [512], [256, 512], 1
    plan = [(case, side) for side in args.mcr_sizes for case in ("mcr", "corridor")] + [("circuit", side) for side in args.circuit_sizes]
    rows = []
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DUALEVAL_THREADS": "1"}
    for case, side in plan:
        npz = synth(side, args.cache)
        pair = {}
        for tool in PAIRS[case]:
            if case == "circuit" and tool == "scipy" and side * side > args.peer_max_nodes:
                print(f"{side}² circuit scipy: skipped (> --peer-max-nodes {args.peer_max_nodes:,})", flush=True)
                continue
            out = args.cache / f"out_{case}_{tool}_{side}.npy"
            try:
                done = subprocess.run([sys.executable, __file__, "--repeats", str(args.repeats), "--worker", case, tool, str(npz), str(out)],
                                      capture_output=True, text=True, cwd=ROOT, env=env, timeout=args.timeout)
                row = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {"error": done.stderr.strip()[-400:]}
            except subprocess.TimeoutExpired:
                row = {"error": f"over --timeout {args.timeout:.0f} s"}
            row.update(case=case, tool=tool, side=side)
            rows.append(row)
            if "error" not in row:
                pair[tool] = (row, out)
            print(json.dumps(row), flush=True)
        ours_tool, peer_tool = PAIRS[case]
        if ours_tool in pair and peer_tool in pair:
            agree = agreement(np.load(pair[ours_tool][1]), np.load(pair[peer_tool][1]))
            if case == "circuit":
                r_o, r_p = pair[ours_tool][0]["r_eff"], pair[peer_tool][0]["r_eff"]
                agree["r_eff_rel"] = abs(r_o - r_p) / abs(r_p)
            pair[ours_tool][0]["agreement"] = agree
            print(json.dumps({"case": case, "side": side, "agreement": agree}), flush=True)
    print()
    print("| case | side | tool | wall s (median) | cells/s | peak RSS MiB | peer s / ours s | agreement (ours vs peer) |")
    print("|---|---|---|---|---|---|---|---|")
    for case, side in plan:
        mine = {r["tool"]: r for r in rows if r["case"] == case and r["side"] == side and "wall_s" in r}
        ours_tool, peer_tool = PAIRS[case]
        for tool in (ours_tool, peer_tool):
            r = mine.get(tool)
            if r is None:
                continue
            ratio = f"{mine[peer_tool]['wall_s'] / mine[ours_tool]['wall_s']:.2f}" if tool == ours_tool and peer_tool in mine else ("1.00" if tool == peer_tool else "—")
            a = r.get("agreement")
            text = (f"max abs {a['max_abs']:.3g}, max rel {a['max_rel']:.3g}, finite mismatch {a['finite_mismatch']}"
                    + (f", R_eff rel {a['r_eff_rel']:.2g}" if "r_eff_rel" in a else "")) if a else ""
            print(f"| {case} | {side}² | {tool} | {r['wall_s']:.2f} | {side * side / r['wall_s']:,.0f} | {r['peak_mib']:.0f} | {ratio} | {text} |")
    errors = [r for r in rows if "error" in r]
    for r in errors:
        print(f"{r['side']}² {r['case']} {r['tool']} failed: {r['error']}")
    if args.json:
        args.json.write_text(json.dumps({"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "cpus": os.cpu_count(), "load": os.getloadavg(), "rows": rows},
                                        indent=1))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
