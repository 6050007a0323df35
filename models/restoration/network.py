"""Ecological network (生态安全格局, methods.md §9.3): sources, resistance, MCR, least-cost corridors, circuit current,
pinch points, barriers and breakpoints, on a coarser analysis grid held in memory (its size and memory need are stated
before anything runs, and a grid that would not fit is refused)."""
from __future__ import annotations

import hashlib
import logging
import math
import threading

import dask
import dask.array as da
import numpy as np
import pandas as pd
import scipy.ndimage as ndi
import scipy.sparse as sp
import xarray as xr
from affine import Affine

from evaluate import ops
from evaluate.modelspec import ClassDecl, InputDecl, Model, ModelSpec, OutputDecl, Parameter
from models._common import values, with_ha_and_mu
from models._tables import table
from models.restoration import connectivity

_R = table("restoration")
_NET = _R["network"]
_DPC = _R["dpc"]
FLAG_PRIORITY, FLAG_PINCH, FLAG_BARRIER, FLAG_BREAK, FLAG_CONFLICT = 1, 2, 4, 8, 16
#: layers of the solved network, in the order of the stacked result
LAYERS = ("mcr", "corridor_nlcc", "current_density", "barrier_is", "eco_sources", "pinch", "barrier", "breakpoint")
#: columns of the links table; ``path`` (cells of the least-cost path on the analysis grid) becomes the corridor polyline
LINK_COLUMNS = ["source_a", "source_b", "lcd", "effective_resistance", "corridor_cells", "path"]
#: columns of the sources table (dpc NaN unless the sources are ranked by dPC)
SOURCE_COLUMNS = ["source", "area_m2", "dpc", "pc"]


# --------------------------------------------------------------------------- kernels of the network (numpy / scipy, in memory)
def resistance_from_landuse(landuse: np.ndarray, groups: dict, default: float, clip: tuple[float, float]) -> np.ndarray:
    """Base resistance by 三调 class (methods.md §9.3 item 2 table [R]); nodata land use → NaN."""
    out = np.full(landuse.shape, float(default))
    for value, codes in groups.items():
        out[np.isin(landuse, codes)] = float(value)
    return np.where(landuse <= 0, np.nan, np.clip(out, *clip))


def cost_distance(resistance: np.ndarray, sources: np.ndarray, cell_m: float) -> np.ndarray:
    """MCR (Knaapen; ArcGIS CostDistance edges: length × mean resistance) from the ``sources`` cells; NaN impassable.

    Source: methods.md §9.3 item 3 [K-high]; scikit-image's MCP_Geometric
    (the same edge costs, 8 neighbours); unreachable cells are inf.
    """
    from skimage.graph import MCP_Geometric

    costs = np.where(np.isfinite(resistance), resistance, np.inf)
    mcp = MCP_Geometric(costs, fully_connected=True, sampling=(cell_m, cell_m))
    cumulative, _ = mcp.find_costs(list(zip(*np.nonzero(sources))))
    return np.where(np.isfinite(resistance), cumulative, np.nan)


def least_cost_path(resistance: np.ndarray, source_a: np.ndarray, source_b: np.ndarray, cell_m: float) -> np.ndarray:
    """The least-cost path from source A to source B: (row, col) cells from A's edge to B's nearest cell.

    Source: methods.md §9.3 item 4 ("the least-cost path is the NLCC == 0
    ridge traced by back-link") [K-high Linkage Mapper]; the back-links are
    scikit-image MCP's traceback on the same edge costs as :func:`cost_distance`.
    """
    from skimage.graph import MCP_Geometric

    costs = np.where(np.isfinite(resistance), resistance, np.inf)
    mcp = MCP_Geometric(costs, fully_connected=True, sampling=(cell_m, cell_m))
    cumulative, _ = mcp.find_costs(list(zip(*np.nonzero(source_a))))
    ends = np.where(source_b, cumulative, np.inf)
    end = np.unravel_index(int(np.argmin(ends)), ends.shape)
    if not np.isfinite(ends[end]):
        return np.zeros((0, 2), dtype=np.int64)
    return np.asarray(mcp.traceback(end), dtype=np.int64)


def adjacent_pairs(allocation: np.ndarray) -> list[tuple[int, int]]:
    """Source pairs whose cost allocations touch (8-neighbour): Linkage Mapper's cost-weighted adjacency."""
    rows, cols = allocation.shape
    pairs = set()
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        p = allocation[: rows - dy, max(0, -dx): cols - max(0, dx)]
        q = allocation[dy:, max(0, dx): cols + min(0, dx)]
        touch = (p != q) & (p > 0) & (q > 0)
        pairs.update(zip(np.minimum(p, q)[touch].tolist(), np.maximum(p, q)[touch].tolist()))
    return sorted(pairs)


def annulus(radius_cells: float) -> np.ndarray:
    """A one-cell-thick ring: cells whose centre distance d satisfies r − 1 < d ≤ r (cells)."""
    n = int(math.ceil(radius_cells))
    y, x = np.mgrid[-n: n + 1, -n: n + 1]
    d = np.hypot(y, x)
    return (d <= radius_cells) & (d > radius_cells - 1)


def barrier_score(lcd: float, cwd_a: np.ndarray, cwd_b: np.ndarray, radius_cells: float, cell_m: float) -> np.ndarray:
    """Linkage Mapper's barrier improvement score at the annulus centre (methods.md §9.3 item 7, §0.3 item 14; T26).

    IS = (LCD − min_annulus(CWD_A) − min_annulus(CWD_B) − dia) / dia with
    dia = 2r in map units (restored cells cost 1 per unit length); ≤ 0 → 0.
    """
    ring = annulus(radius_cells)
    big = np.finfo(np.float64).max
    fa = ndi.minimum_filter(np.where(np.isfinite(cwd_a), cwd_a, big), footprint=ring, mode="constant", cval=big)
    fb = ndi.minimum_filter(np.where(np.isfinite(cwd_b), cwd_b, big), footprint=ring, mode="constant", cval=big)
    dia = 2.0 * radius_cells * cell_m
    score = (lcd - fa - fb - dia) / dia
    return np.where((fa < big) & (fb < big), np.maximum(score, 0.0), 0.0)


class CircuitSolver:
    """Pairwise circuit solves on one grid, the matrix factorised (or its AMG hierarchy built) once for every pair.

    Source: methods.md §9.3 item 5 [K-high McRae 2008; Circuitscape's
    pairwise mode]: conductance 1/R; 8-neighbour edges of conductance
    mean(g_a, g_b)/d, d = 1 or √2 (cell units, as Circuitscape); every
    focal patch is one node (its cells short-circuited). For a pair (A, B)
    1 A enters at A and leaves at B: L v = e_A − e_B on the graph Laplacian
    grounded at one source node per connected component (only differences
    of v matter), so a single factorisation (sparse LU; for large grids a
    smoothed-aggregation AMG hierarchy preconditioning conjugate gradients,
    pyamg) serves every pair. The current density of a cell is ½ Σ |branch
    currents| of its edges; the effective resistance is v_A − v_B. NaN or
    non-positive resistance = no cell.
    """

    def __init__(self, resistance: np.ndarray, sources: np.ndarray, tol: float = 1e-10):
        from scipy.sparse.csgraph import connected_components

        self.shape, self.tol = resistance.shape, tol
        rows, cols = resistance.shape
        valid = np.isfinite(resistance) & (resistance > 0)
        g = np.where(valid, 1.0 / np.where(valid, resistance, 1.0), 0.0)
        count = int(sources.max()) if sources.size else 0
        node = -np.ones(resistance.shape, dtype=np.int64)
        free = valid & (sources == 0)
        node[free] = count + np.arange(int(free.sum()))
        inside = valid & (sources > 0)
        node[inside] = sources[inside] - 1
        n = count + int(free.sum())
        flat = np.arange(rows * cols).reshape(rows, cols)
        heads, tails, conductance = [], [], []
        for dy, dx, dist in ((0, 1, 1.0), (1, 0, 1.0), (1, 1, math.sqrt(2)), (1, -1, math.sqrt(2))):
            a = (slice(0, rows - dy), slice(max(0, -dx), cols - max(0, dx)))
            b = (slice(dy, rows), slice(max(0, dx), cols + min(0, dx)))
            both = valid[a] & valid[b]
            heads.append(flat[a][both])
            tails.append(flat[b][both])
            conductance.append(0.5 * (g[a][both] + g[b][both]) / dist)
        self.heads, self.tails, self.conductance = np.concatenate(heads), np.concatenate(tails), np.concatenate(conductance)
        i, j = node.ravel()[self.heads], node.ravel()[self.tails]
        between = i != j
        i, j, w = i[between], j[between], self.conductance[between]
        adjacency = sp.coo_matrix((w, (i, j)), shape=(n, n)).tocsr()
        adjacency = adjacency + adjacency.T
        lap = sp.diags(np.asarray(adjacency.sum(axis=1)).ravel()) - adjacency
        _, component = connected_components(adjacency, directed=False)
        self.component = component[:count]
        grounds = {}
        for k in range(count):
            grounds.setdefault(component[k], k)
        self.ground = np.array(sorted(grounds.values()), dtype=np.int64)
        live = np.isin(component, [component[k] for k in range(count)])  # components holding a source; the rest carry no current
        live[self.ground] = False
        self.keep = np.nonzero(live)[0]
        self.position = -np.ones(n, dtype=np.int64)
        self.position[self.keep] = np.arange(self.keep.size)
        reduced = lap[self.keep][:, self.keep].tocsc()
        self.node_of_cell = node.ravel()
        if reduced.shape[0] <= 400_000:  # sparse LU of a 2-D grid Laplacian stays within a few hundred MiB here
            from scipy.sparse.linalg import splu

            # the grounded Laplacian is symmetric positive definite: a symmetric fill-reducing order (minimum degree on
            # A + Aᵀ) and no pivoting are exact and cut the factorisation ~3× against SuperLU's default COLAMD
            # (benchmarks/restoration.py, 512²)
            lu = splu(reduced, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
            self._solve = lu.solve
        else:
            import pyamg
            from scipy.sparse.linalg import cg

            hierarchy = pyamg.smoothed_aggregation_solver(reduced.tocsr(), symmetry="symmetric")
            preconditioner = hierarchy.aspreconditioner()

            def solve(rhs):
                v, info = cg(reduced, rhs, rtol=self.tol, maxiter=2000, M=preconditioner)
                if info != 0:
                    raise RuntimeError(f"the circuit solve did not converge (cg info {info})")
                return v

            self._solve = solve

    def pair(self, a: int, b: int) -> tuple[np.ndarray, float]:
        """(current density per cell, effective resistance) for 1 A from source ``a`` to source ``b`` (1-based ids)."""
        if self.component[a - 1] != self.component[b - 1]:
            return np.zeros(self.shape), math.inf
        rhs = np.zeros(self.keep.size)
        for k, amps in ((a - 1, 1.0), (b - 1, -1.0)):
            if self.position[k] >= 0:
                rhs[self.position[k]] += amps
        v_nodes = np.zeros(self.position.size)
        v_nodes[self.keep] = self._solve(rhs)
        cell_node = self.node_of_cell
        volts = np.where(cell_node >= 0, v_nodes[np.maximum(cell_node, 0)], 0.0)
        branch = self.conductance * np.abs(volts[self.heads] - volts[self.tails])
        current = np.zeros(volts.size)
        np.add.at(current, self.heads, branch)
        np.add.at(current, self.tails, branch)
        return 0.5 * current.reshape(self.shape), float(v_nodes[a - 1] - v_nodes[b - 1])


def circuit_current(resistance: np.ndarray, source_a: np.ndarray, source_b: np.ndarray) -> tuple[np.ndarray, float]:
    """Current density and effective resistance between two patches (:class:`CircuitSolver` for one pair)."""
    sources = np.where(source_a, 1, np.where(source_b, 2, 0))
    return CircuitSolver(resistance, sources).pair(1, 2)


def solve_network(eco_very_important: np.ndarray, resistance: np.ndarray, roads: np.ndarray | None, cell_m: float, params: dict):
    """The whole network on the analysis grid: a (len(LAYERS), rows, cols) float64 stack, the table of links and of sources.

    Sources are the 8-connected patches of ``eco_very_important`` of at least
    ``source_min_km2``, the ``max_sources`` largest, numbered in label order;
    with ``source_dpc`` (or ``source_top_n`` > 0) they are renumbered by dPC
    and cut to the best ``source_top_n`` (:func:`rank_sources_by_dpc`)
    before the corridors, currents and barriers are solved between them.
    """
    shape = resistance.shape
    labels, n = ndi.label(eco_very_important, structure=np.ones((3, 3)))
    areas_km2 = np.bincount(labels.ravel(), minlength=n + 1) * cell_m * cell_m / 1e6
    keep = [k for k in range(1, n + 1) if areas_km2[k] >= params["source_min_km2"]]
    keep = sorted(keep, key=lambda k: -areas_km2[k])[: params["max_sources"]]
    sources = np.zeros(shape, dtype=np.int64)
    for new, old in enumerate(sorted(keep), start=1):
        sources[labels == old] = new
    out = np.zeros((len(LAYERS),) + shape)
    out[LAYERS.index("mcr")] = np.nan
    out[LAYERS.index("corridor_nlcc")] = np.nan
    links = []
    count = int(sources.max())
    if count == 0:
        out[LAYERS.index("eco_sources")] = sources
        return out, pd.DataFrame(columns=LINK_COLUMNS), pd.DataFrame(columns=SOURCE_COLUMNS)
    cwd = np.stack([cost_distance(resistance, sources == k, cell_m) for k in range(1, count + 1)])
    ranked = params.get("source_dpc", False) or int(params.get("source_top_n", 0)) > 0
    if ranked:
        sources, cwd, source_table = rank_sources_by_dpc(sources, cwd, resistance, cell_m, params)
        count = int(sources.max())
    else:
        cells = np.bincount(sources.ravel(), minlength=count + 1)[1:]
        source_table = pd.DataFrame({"source": np.arange(1, count + 1), "area_m2": cells * cell_m * cell_m, "dpc": np.nan, "pc": np.nan})
    out[LAYERS.index("eco_sources")] = sources
    finite = np.where(np.isfinite(cwd), cwd, np.inf)
    mcr = finite.min(axis=0)
    allocation = np.where(np.isfinite(mcr), finite.argmin(axis=0) + 1, 0)
    nlcc = np.full(shape, np.inf)
    current = np.zeros(shape)
    barrier = np.zeros(shape)
    width = params["corridor_width_cost"]
    solver = CircuitSolver(resistance, sources) if count > 1 else None
    for a, b in adjacent_pairs(allocation) if count > 1 else []:
        total = finite[a - 1] + finite[b - 1]
        lcd = float(total.min())
        if not np.isfinite(lcd):
            continue
        pair_nlcc = total - lcd
        nlcc = np.minimum(nlcc, pair_nlcc)
        amps, r_eff = solver.pair(a, b)
        current += amps
        for radius_m in params["barrier_radii_m"]:
            barrier = np.maximum(barrier, barrier_score(lcd, finite[a - 1], finite[b - 1], radius_m / cell_m, cell_m))
        path = least_cost_path(resistance, sources == a, sources == b, cell_m)
        links.append({"source_a": a, "source_b": b, "lcd": lcd, "effective_resistance": r_eff, "corridor_cells": int((pair_nlcc <= width).sum()),
                      "path": path})
    valid = np.isfinite(resistance)
    corridor = valid & (nlcc <= width)
    out[LAYERS.index("mcr")] = np.where(valid, np.where(np.isfinite(mcr), mcr, np.nan), np.nan)
    out[LAYERS.index("corridor_nlcc")] = np.where(valid & np.isfinite(nlcc), nlcc, np.nan)
    out[LAYERS.index("current_density")] = np.where(valid, current, np.nan)
    out[LAYERS.index("barrier_is")] = np.where(valid, barrier, np.nan)
    if corridor.any():
        top = np.quantile(current[corridor], 1.0 - params["pinch_top_share"])
        out[LAYERS.index("pinch")] = corridor & (current >= top) & (current > 0)
    positive = barrier > 0
    if positive.any():
        top = np.quantile(barrier[positive], 1.0 - params["barrier_top_share"])
        out[LAYERS.index("barrier")] = positive & (barrier >= top)
    if roads is not None:
        out[LAYERS.index("breakpoint")] = corridor & (nlcc <= params["path_tolerance_cost"]) & (roads > 0)
    return out, pd.DataFrame(links, columns=LINK_COLUMNS), source_table


def rank_sources_by_dpc(sources: np.ndarray, cwd: np.ndarray, resistance: np.ndarray, cell_m: float, params: dict):
    """Sources renumbered by dPC (1 = most important), the best ``source_top_n`` kept (0: all), and their table.

    Source: methods.md §9.3 item 1 ("optionally keep the top-N by dPC")
    [K-high Saura & Pascual-Hortal 2007]; the science is in
    :mod:`models.restoration.connectivity`. The candidates are the sources
    found by area (≥ ``source_min_km2``, the ``max_sources`` largest); their
    dPC is computed among all candidates, then the ranking is cut. Patch area
    a_i and study area A_L (every cell of finite resistance) are in m²;
    distances d_ij are least costs between the patches (``dpc_distance:
    cost``, from the cost surfaces ``cwd`` the corridors use anyway) or
    nearest-cell Euclidean metres (``euclidean``); p = 0.5 at
    ``dpc_median_dispersal`` in the same unit. Ties keep the earlier id.

    Returns
    -------
    sources : (rows, cols) int64
        Source ids by dPC rank; dropped sources are 0.
    cwd : (kept, rows, cols)
        The cost surfaces of the kept sources, in their new order.
    table : pandas.DataFrame
        ``source`` (the new id), ``area_m2``, ``dpc`` (%), ``pc`` (of all candidates, repeated).
    """
    count = cwd.shape[0]
    cells = np.bincount(sources.ravel(), minlength=count + 1)[1:]
    areas = cells * cell_m * cell_m
    by_cost = params.get("dpc_distance", "cost") == "cost"
    distance = connectivity.patch_distances(sources, count, cell_m, cwd if by_cost else None)
    decay = connectivity.decay_for_median(float(params["dpc_median_dispersal"]))
    dpc = connectivity.delta_pc(areas, distance, decay)
    landscape_m2 = float(np.isfinite(resistance).sum()) * cell_m * cell_m
    pc = connectivity.probability_of_connectivity(areas, distance, decay, landscape_m2)
    order = np.argsort(-dpc, kind="stable")
    top_n = int(params.get("source_top_n", 0))
    kept = order[:top_n] if top_n > 0 else order
    new_id = np.zeros(count + 1, dtype=np.int64)
    new_id[kept + 1] = np.arange(1, kept.size + 1)
    logging.getLogger("dualeval").info("eco_network: PC = %.6g over %d candidate sources; kept %d by dPC", pc, count, kept.size)
    table_ = pd.DataFrame({"source": np.arange(1, kept.size + 1), "area_m2": areas[kept], "dpc": dpc[kept], "pc": pc})
    return new_id[sources], cwd[kept], table_


# --------------------------------------------------------------------------- the model
_MEMO: dict[str, tuple] = {}
_MEMO_LOCKS: dict[str, threading.Lock] = {}
_MEMO_GUARD = threading.Lock()


def _memoised(solve, *arrays: np.ndarray):
    """``solve(*arrays)`` computed once per process for equal inputs (the last two results are kept)."""
    digest = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        digest.update(str((a.dtype, a.shape)).encode())
        digest.update(a.tobytes())
    digest.update(repr(solve.__closure__ and [c.cell_contents for c in solve.__closure__ if not callable(c.cell_contents)]).encode())
    key = digest.hexdigest()
    with _MEMO_GUARD:
        lock = _MEMO_LOCKS.setdefault(key, threading.Lock())
    with lock:
        if key not in _MEMO:
            _MEMO[key] = solve(*arrays)
            while len(_MEMO) > 2:
                _MEMO.pop(next(iter(_MEMO)))
        return _MEMO[key]


def network_memory_bytes(cells: int, max_sources: int) -> int:
    """Peak memory of :func:`solve_network`: one cost surface per source plus ~40 float64 work arrays and the AMG hierarchy."""
    return int(cells * 8 * (max_sources + 60))


def _network(inputs, params, ev):
    from evaluate.grid import grid_of

    eco = inputs["eco_importance"]
    grid = grid_of(eco)
    dx, dy = grid.cell_size_m()
    cell = 0.5 * (float(np.mean(dx)) + float(np.mean(dy)))
    factor = max(1, int(round(params["analysis_resolution_m"] / cell)))
    rows, cols = -(-grid.shape[0] // factor), -(-grid.shape[1] // factor)
    need = network_memory_bytes(rows * cols, params["max_sources"])
    if need > params["max_memory_gib"] * 2**30:
        raise ValueError(
            f"the network's analysis grid of {rows:,} × {cols:,} cells ({factor * cell:.0f} m) with up to {params['max_sources']} sources "
            f"needs about {need / 2**30:.1f} GiB, over max_memory_gib = {params['max_memory_gib']}; raise analysis_resolution_m "
            f"(e.g. {params['analysis_resolution_m'] * math.ceil(math.sqrt(need / (params['max_memory_gib'] * 2**30))):.0f}) or max_memory_gib")
    logging.getLogger("dualeval").info(
        "eco_network: analysis grid %d × %d cells of %.0f m, up to %d sources, about %.2f GiB in memory (max_memory_gib %g)",
        rows, cols, factor * cell, params["max_sources"], need / 2**30, params["max_memory_gib"])
    groups = {float(k): v for k, v in params["resistance_groups"].items()}
    fine_resistance = ops.map_cells(lambda lu: resistance_from_landuse(lu, groups, params["resistance_default"], tuple(params["resistance_clip"])),
                                    inputs["landuse"], dtype=np.float64, name="resistance")
    fine_resistance = _multiplied(fine_resistance, inputs, params)
    window = {"y": factor, "x": factor}
    coarse_eco = ops.map_cells(lambda e: np.where(e > 0, (e == 1).astype(np.float64), np.nan), eco, dtype=np.float64).coarsen(window, boundary="pad").mean()
    coarse_res = fine_resistance.coarsen(window, boundary="pad").mean()
    coarse_roads = inputs["roads"].astype(np.float64).coarsen(window, boundary="pad").max() if "roads" in inputs else None
    solve_params = {k: params[k] for k in ("source_min_km2", "max_sources", "corridor_width_cost", "barrier_radii_m", "pinch_top_share",
                                           "barrier_top_share", "path_tolerance_cost", "source_dpc", "source_top_n", "dpc_distance",
                                           "dpc_median_dispersal")}

    def solve(e, r, *roads):
        return solve_network(np.nan_to_num(e) >= 0.5, r, roads[0] if roads else None, factor * cell, solve_params)

    parts = [coarse_eco.data, coarse_res.data] + ([coarse_roads.data] if coarse_roads is not None else [])
    # the rasters and the links table read the same solve; dask gives each its own copy of the task when the graph is
    # lowered, so the solve is memoised on the content of its inputs: the second copy waits for the first and reuses it
    stack = da.from_delayed(dask.delayed(lambda *p: _memoised(solve, *p)[0], pure=True)(*parts), shape=(len(LAYERS), rows, cols), dtype=np.float64)
    solved_links = dask.delayed(lambda *p: _memoised(solve, *p)[1], pure=True)(*parts)
    solved_sources = dask.delayed(lambda *p: _memoised(solve, *p)[2], pure=True)(*parts)
    links = dask.delayed(lambda t: t.drop(columns=["path"]), pure=True)(solved_links)
    chunks = eco.data.chunks if isinstance(eco.data, da.Array) else None
    out = {}
    for k, name in enumerate(LAYERS):
        fine = da.repeat(da.repeat(stack[k], factor, axis=0), factor, axis=1)[: grid.shape[0], : grid.shape[1]]
        fine = fine.rechunk(chunks) if chunks else fine.rechunk(grid.shape)
        out[name] = xr.DataArray(fine, coords=eco.coords, dims=eco.dims, name=name)
    attrs = {"analysis_resolution_m": factor * cell, "analysis_grid": f"{rows} x {cols}", "memory_estimate_gib": round(need / 2**30, 2)}
    result = {
        "mcr": out["mcr"].astype(np.float32).assign_attrs(attrs),
        "corridor_nlcc": out["corridor_nlcc"].astype(np.float32).assign_attrs(attrs),
        "current_density": out["current_density"].astype(np.float32).assign_attrs(attrs),
        "barrier_is": out["barrier_is"].astype(np.float32).assign_attrs(attrs),
        "eco_sources": out["eco_sources"].astype(np.int32).assign_attrs(attrs, source_ids=(
            "dPC rank (1 = highest dPC, Saura & Pascual-Hortal 2007)" if params["source_dpc"] or params["source_top_n"] > 0 else "patch label order")),
        "network_links": links,
    }
    present = [n for n in ("restoration_priority", "conflict_flags") if n in inputs]

    def flags(pinch, barrier, brk, *more):
        got = dict(zip(present, more))
        f = np.where(pinch > 0, FLAG_PINCH, 0) | np.where(barrier > 0, FLAG_BARRIER, 0) | np.where(brk > 0, FLAG_BREAK, 0)
        if "restoration_priority" in got:
            f |= np.where((got["restoration_priority"] >= 1) & (got["restoration_priority"] <= 2), FLAG_PRIORITY, 0)
        if "conflict_flags" in got:
            f |= np.where(got["conflict_flags"] & 1, FLAG_CONFLICT, 0)
        return f.astype(np.uint8)

    result["restoration_key_flags"] = ops.map_cells(flags, out["pinch"], out["barrier"], out["breakpoint"], *[inputs[n] for n in present],
                                                    dtype=np.uint8, name="restoration_key_flags")
    # vectors: source polygons (at the analysis grid's resolution) and least-cost corridor polylines, and the per-county table
    sources = ops.polygonize(result["eco_sources"])
    transform = grid.transform * Affine.scale(factor)
    result["network"] = dask.delayed(network_features, pure=True)(sources, solved_links, transform, str(grid.crs), solved_sources)
    admin = inputs["admin"] if "admin" in inputs else ops.map_cells(lambda e: np.ones(e.shape, np.int32), eco, dtype=np.int32)
    result["restoration_summary"] = _summary(admin, inputs.get("restoration_priority"), out)
    return result


def resistance_multipliers(eco, slope, footprint, params) -> np.ndarray:
    """The product of the optional multipliers of §9.3 item 2: by ECO class, by slope class and 1 + w·footprint (all 1 by default) [R]."""
    out = np.ones(np.shape(eco), dtype=np.float64)
    by_eco = {int(k): float(v) for k, v in params["eco_multipliers"].items()}
    for code, factor in by_eco.items():
        out = np.where(eco == code, out * factor, out)
    if slope is not None:
        classes = np.searchsorted(np.asarray(params["slope_breaks_deg"], dtype=np.float64), np.nan_to_num(slope), side="left")
        out = out * np.asarray(params["slope_multipliers"], dtype=np.float64)[classes]
    if footprint is not None:
        out = out * (1.0 + params["footprint_weight"] * np.clip(np.nan_to_num(footprint), 0.0, 1.0))
    return out


def _multiplied(resistance, inputs, params):
    neutral = (all(float(v) == 1.0 for v in params["eco_multipliers"].values()) and all(float(m) == 1.0 for m in params["slope_multipliers"])
               and (params["footprint_weight"] == 0 or "human_footprint" not in inputs))
    if neutral:
        return resistance
    extra = [n for n in ("slope", "human_footprint") if n in inputs]
    low, high = params["resistance_clip"]

    def block(r, e, *more):
        got = dict(zip(extra, more))
        return np.clip(r * resistance_multipliers(e, got.get("slope"), got.get("human_footprint"), params), low, high)

    return ops.map_cells(block, resistance, inputs["eco_importance"], *[inputs[n] for n in extra], dtype=np.float64, name="resistance")


def network_features(sources: pd.DataFrame, links: pd.DataFrame, transform, crs: str, source_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Layers STYD (生态源地 polygons, ellipsoidal MJ, dPC %) and STLD (生态廊道: least-cost paths as lines, geodesic length).

    ``DPC`` is the source's dPC (Saura & Pascual-Hortal 2007, %, from
    ``source_table``), NaN unless the sources were ranked by dPC.
    """
    import pyproj
    import shapely

    dpc = {} if source_table is None else dict(zip(source_table["source"].astype(int), source_table["dpc"].astype(float)))
    rows = [{"layer": "STYD", "YDBH": int(r.value), "MJ": round(float(r.area_m2), 2), "MJ_HA": round(float(r.area_m2) / 1e4, 4),
             "MJ_MU": round(float(r.area_m2) * 15 / 1e4, 2), "DPC": dpc.get(int(r.value), np.nan), "YDA": 0, "YDB": 0, "LCD": np.nan,
             "REFF": np.nan, "CD": np.nan, "geometry": r.geometry} for r in sources.itertuples()]
    geod = pyproj.CRS.from_epsg(4490).get_geod()
    to_lonlat = pyproj.Transformer.from_crs(crs, "EPSG:4490", always_xy=True)
    for r in links.itertuples():
        if len(r.path) < 2:
            continue
        cols, rows_ = r.path[:, 1] + 0.5, r.path[:, 0] + 0.5  # analysis-cell centres
        xs, ys = transform * (cols, rows_)
        line = shapely.LineString(np.column_stack([xs, ys]))
        lon, lat = to_lonlat.transform(np.asarray(xs), np.asarray(ys))
        rows.append({"layer": "STLD", "YDBH": 0, "MJ": np.nan, "MJ_HA": np.nan, "MJ_MU": np.nan, "DPC": np.nan, "YDA": int(r.source_a),
                     "YDB": int(r.source_b), "LCD": float(r.lcd), "REFF": float(r.effective_resistance), "CD": round(geod.line_length(lon, lat), 2),
                     "geometry": line})
    return pd.DataFrame(rows, columns=["layer", "YDBH", "MJ", "MJ_HA", "MJ_MU", "DPC", "YDA", "YDB", "LCD", "REFF", "CD", "geometry"])


def _summary(admin, priority, out):
    """Per county: area of every restoration-priority class, and area and patch count of pinch points, barriers and breakpoints."""
    parts = {}
    if priority is not None:
        parts["priority"] = ops.zonal_area(admin, priority, unit="m2")
    for name in ("pinch", "barrier", "breakpoint"):
        mask = ops.map_cells(lambda m: m > 0, out[name], dtype=bool)
        parts[name] = ops.zonal_area(admin, mask, unit="m2")
        parts[f"{name}_patches"] = ops.zonal_area(admin, ops.label(mask), unit="m2")

    def table_(parts):
        zones = sorted(set().union(*[set(t["zone"]) for t in parts.values()])) if parts else []
        rows = []
        for z in zones:
            row = {"admin": int(z)}
            if "priority" in parts:
                t = parts["priority"]
                for code in range(1, 6):
                    row[f"priority_{code}_m2"] = float(t[(t["zone"] == z) & (t["class"] == code)]["area_m2"].sum())
            for name in ("pinch", "barrier", "breakpoint"):
                t = parts[name]
                row[f"{name}_m2"] = float(t[(t["zone"] == z) & (t["class"] == 1)]["area_m2"].sum())
                row[f"{name}_count"] = int((parts[f"{name}_patches"]["zone"] == z).sum())
            rows.append(row)
        return with_ha_and_mu(pd.DataFrame(rows))

    return dask.delayed(table_, pure=True)(parts)


def _whole_top_n(params) -> list[str]:
    """``source_top_n`` counts sources: a fraction would silently truncate."""
    n = params["source_top_n"]
    return [] if float(n).is_integer() else [f"source_top_n: must be a whole number of sources, got {n!r}"]


NETWORK = Model(
    ModelSpec(
        name="eco_network",
        title_zh="生态安全格局 (源地—阻力—廊道—节点)", title_en="Ecological network",
        source="methods.md §9.3: sources = 极重要 patches ≥ source_min_km2, optionally the top N by dPC (Saura & Pascual-Hortal 2007); "
        "resistance by 三调 class [R]; MCR (Knaapen, ArcGIS CostDistance edges); "
        "least-cost corridors NLCC (Linkage Mapper); pairwise circuit current (Circuitscape, McRae 2008); pinch points; barrier improvement "
        "score (Linkage Mapper s6_barriers, §0.3 item 14); breakpoints on roads; key flags §9.3 item 9",
        inputs={
            "eco_importance": InputDecl("class", "categorical", "ecological-protection importance (sources: 极重要)", producer="eco_importance"),
            "landuse": InputDecl("class", "categorical", "三调 land use (resistance)"),
            "roads": InputDecl("mask", "mask", "roads and railways (breakpoints)", required=False),
            "restoration_priority": InputDecl("class", "categorical", "restoration priority (key flag 1)", required=False, producer="restoration_priority"),
            "admin": InputDecl("class", "categorical", "county codes (restoration_summary)", required=False),
            "slope": InputDecl("degrees", "continuous", "slope (resistance multiplier by slope class)", required=False, producer="slope"),
            "human_footprint": InputDecl("fraction", "continuous", "human footprint / impervious fraction / normalised night light (0–1)",
                                         required=False),
            "conflict_flags": InputDecl("class", "categorical", "conflicts (key flag 16 = C1)", required=False, producer="conflicts"),
        },
        parameters={
            "analysis_resolution_m": Parameter(90.0, "cell size of the in-memory analysis grid, metres", "methods.md §9.3 [R]", domain=(1, 1e5, "m")),
            "max_memory_gib": Parameter(4.0, "refuse an analysis grid needing more", "[R]", domain=(0.01, 4096, "GiB")),
            "source_min_km2": Parameter(_NET["source_min_km2"], "smallest source patch, km²", _NET["source"], domain=(0, 1e6, "km2")),
            "max_sources": Parameter(30, "keep the largest sources only", "[R]", domain=(1, 1000, "sources")),
            "source_dpc": Parameter(False, "rank the sources by dPC (Saura & Pascual-Hortal 2007): ids 1 = most important, STYD field DPC (%)",
                                    _DPC["source"]),
            "source_top_n": Parameter(0, "keep the N sources of highest dPC among the max_sources largest (0: keep all; > 0 ranks by dPC)",
                                      _DPC["source"], domain=(0, 1000, "sources")),
            "dpc_distance": Parameter(_DPC["distance"], "d_ij of dPC: least cost between the patches (cost units) or nearest-cell Euclidean (m)",
                                      _DPC["source"], choices=("cost", "euclidean")),
            "dpc_median_dispersal": Parameter(float(_DPC["median_dispersal"]), "distance at which the dispersal probability of dPC is 0.5, in the "
                                              "unit of dpc_distance (cost units, or m)", _DPC["source"], domain=(1e-6, 1e12, "cost or m")),
            "resistance_groups": Parameter({int(k): v for k, v in _R["resistance_by_landuse"]["groups"].items()}, "resistance → 三调 codes",
                                           _R["resistance_by_landuse"]["source"], open_keys=True),
            "resistance_default": Parameter(float(_R["resistance_by_landuse"]["default"]), "resistance of every other class", _R["resistance_by_landuse"]["source"]),
            "resistance_clip": Parameter(list(_R["resistance_by_landuse"]["clip"]), "resistance range", _R["resistance_by_landuse"]["source"], ascending=True, length=2),
            "eco_multipliers": Parameter({1: 1.0, 2: 1.0, 3: 1.0}, "resistance × this by ECO class (e.g. 0.5 / 1 / 2)", "methods.md §9.3 item 2 [R]",
                                         open_keys=True),
            "slope_breaks_deg": Parameter([8.0, 15.0, 25.0], "slope classes of the slope multiplier (°, upper-inclusive)", "methods.md §9.3 item 2 [R]",
                                          ascending=True),
            "slope_multipliers": Parameter([1.0, 1.0, 1.0, 1.0], "resistance × this per slope class", "methods.md §9.3 item 2 [R]"),
            "footprint_weight": Parameter(0.0, "resistance × (1 + w · human footprint)", "methods.md §9.3 item 2 [R]", domain=(0, 1000, "1")),
            "corridor_width_cost": Parameter(float(_NET["corridor_width_cost"]), "NLCC cutoff of a corridor (cost units)", _NET["source"], domain=(0, 1e12, "cost")),
            "barrier_radii_m": Parameter(list(_NET["barrier_radii_m"]), "detection radii of barriers, metres", _NET["source"], ascending=True),
            "pinch_top_share": Parameter(_NET["pinch_top_share"], "share of corridor cells with the most current that are pinch points", _NET["source"],
                                         domain=(0, 1, "fraction")),
            "barrier_top_share": Parameter(_NET["barrier_top_share"], "share of positive barrier scores flagged", _NET["source"], domain=(0, 1, "fraction")),
            "path_tolerance_cost": Parameter(1.0, "NLCC at or below which a cell is on a least-cost path (breakpoints)", "[R]", domain=(0, 1e12, "cost")),
        },
        consistency=_whole_top_n,
        outputs={
            "mcr": values("最小累积阻力 MCR (cost units: resistance × m)", "1"),
            "corridor_nlcc": values("normalized least-cost corridor NLCC (min over linked source pairs)", "1"),
            "current_density": values("cumulative current density (pairwise, 1 A per pair)", "1"),
            "barrier_is": values("barrier improvement score IS (max over pairs and radii)", "1"),
            "eco_sources": OutputDecl("int32", "生态源地 ids (by dPC rank when source_dpc or source_top_n)", nodata=0),
            "restoration_key_flags": OutputDecl("uint8", "修复关键区: 1 priority, 2 pinch, 4 barrier, 8 breakpoint, 16 conflict C1", nodata=0, classes=tuple(
                ClassDecl(k, "+".join(z for b, z in ((1, "优先"), (2, "夹点"), (4, "障碍点"), (8, "断裂点"), (16, "冲突")) if k & b),
                          "+".join(e for b, e in ((1, "priority"), (2, "pinch"), (4, "barrier"), (8, "breakpoint"), (16, "conflict")) if k & b),
                          ((41 * k) % 255, (97 * k) % 255, (53 * k) % 255)) for k in range(1, 32))),
            "network_links": OutputDecl("table", "linked source pairs: least-cost distance, effective resistance, corridor cells", kind="table"),
            "network": OutputDecl("vector", "生态源地 STYD (polygons) and 生态廊道 STLD (least-cost paths), CGCS2000", kind="vector"),
            "restoration_summary": OutputDecl("table", "per county: restoration-priority class areas; pinch points, barriers and breakpoints "
                                              "(area and patch count)", kind="table"),
        },
    ),
    _network,
)
