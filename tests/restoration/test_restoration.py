"""Restoration (methods.md §9; §11 T25, T26): severity, priority matrix, trend tests, MCR, corridors, circuit current, barriers."""
import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.stats
from scipy.sparse.csgraph import dijkstra

from models.restoration import network as N
from models.restoration import priority as P
from models._tables import table
from tests.helpers import run_model

MATRIX = table("restoration")["priority_matrix"]["matrix"]


@pytest.mark.parametrize("eco, severity, expected", [
    (1, 3, 1), (1, 2, 1), (1, 1, 2), (1, 0, 4), (2, 3, 1), (2, 2, 2), (2, 1, 3), (2, 0, 4), (3, 3, 2), (3, 2, 3), (3, 1, 3), (3, 0, 5)])
def test_priority_matrix_cell_by_cell(eco, severity, expected):
    assert P.priority_class(np.array([eco]), np.array([severity]), MATRIX)[0] == expected


def test_sl190_erosion_classes():
    # t/(hm²·a) × 100 = t/(km²·a); T = 500 (南方红壤丘陵区)
    a = np.array([4.99, 5.0, 24.99, 25.0, 49.99, 50.0, 200.0, np.nan])
    assert P.erosion_severity(a, 500).tolist() == [0, 1, 1, 2, 2, 3, 3, 0]
    assert P.erosion_severity(np.array([2.0, 1.99]), 200).tolist() == [1, 0]


def test_degraded_cover_rule():
    assert P.degraded_severity(np.array([3, 2, 2, 3, 1]), np.array([True, True, False, False, True])).tolist() == [3, 2, 1, 1, 0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_theil_sen_and_mann_kendall_against_scipy(seed):
    rng = np.random.default_rng(seed)
    y = np.round(0.6 - 0.01 * np.arange(15) + rng.normal(0, 0.02, 15), 2)  # rounding makes ties
    slope, p = P.theil_sen_mann_kendall(y[:, None], continuity=False)
    assert slope[0] == pytest.approx(scipy.stats.theilslopes(y).slope, rel=1e-12)
    assert p[0] == pytest.approx(scipy.stats.kendalltau(np.arange(15), y, method="asymptotic").pvalue, rel=1e-6)
    assert P.theil_sen_mann_kendall(y[:, None])[1][0] > p[0]  # the continuity correction is conservative


def test_severity_is_the_max_with_the_problem_named():
    out = run_model("restoration_severity", {"fvc": np.array([0.1, 0.5, 0.5]), "soil_loss": np.array([60.0, 10.0, 1.0]),
                                             "eco_sens_rocky": np.array([3, 3, 1], np.uint8)})
    assert out["severity"].ravel().tolist() == [3, 1, 0]
    assert [P.PROBLEMS[k - 1] if k else None for k in out["severity_source"].ravel()] == ["erosion", "erosion", None]
    assert out["severity_rocky"].ravel().tolist() == [3, 1, 0]


def test_t25_mcr_on_a_row():
    r = np.array([[1.0, 2.0, 3.0, 4.0]])
    src = np.array([[True, False, False, False]])
    assert N.cost_distance(r, src, 1.0).ravel().tolist() == pytest.approx([0.0, 1.5, 4.0, 7.5])


def test_mcr_and_corridor_against_a_plain_dijkstra():
    rng = np.random.default_rng(3)
    r = rng.uniform(1, 20, (12, 15))
    a, b = np.zeros_like(r, bool), np.zeros_like(r, bool)
    a[2, 2], b[9, 12] = True, True
    rows, cols = r.shape
    idx = np.arange(r.size).reshape(r.shape)
    i, j, w = [], [], []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        for y in range(rows):
            for x in range(cols):
                yy, xx = y + dy, x + dx
                if 0 <= yy < rows and 0 <= xx < cols:
                    i.append(idx[y, x]); j.append(idx[yy, xx]); w.append(math.hypot(dy, dx) * 30 * (r[y, x] + r[yy, xx]) / 2)
    graph = sp.coo_matrix((w, (i, j)), shape=(r.size, r.size))
    da_ = dijkstra(graph, directed=False, indices=idx[2, 2]).reshape(r.shape)
    db_ = dijkstra(graph, directed=False, indices=idx[9, 12]).reshape(r.shape)
    np.testing.assert_allclose(N.cost_distance(r, a, 30.0), da_, rtol=1e-12)
    nlcc = da_ + db_ - (da_ + db_).min()
    assert nlcc[2, 2] == pytest.approx(0.0, abs=1e-9) and nlcc[9, 12] == pytest.approx(0.0, abs=1e-9)  # the path's ends lie on the ridge


def test_effective_resistance_of_a_strip_and_a_small_grid():
    # 1 × N strip of unit resistance: N − 1 unit conductors in series between the end cells → R_eff = N − 1
    r = np.ones((1, 6))
    a, b = np.zeros_like(r, bool), np.zeros_like(r, bool)
    a[0, 0], b[0, 5] = True, True
    current, r_eff = N.circuit_current(r, a, b)
    assert r_eff == pytest.approx(5.0, rel=1e-9)
    assert current[0, 2] == pytest.approx(1.0, rel=1e-9)  # ½ (1 A in + 1 A out)
    # 3 × 3 grid, corner to corner: against a dense solve of the same Laplacian
    r = np.array([[1.0, 2.0, 1.0], [3.0, 1.0, 2.0], [1.0, 4.0, 1.0]])
    a, b = np.zeros_like(r, bool), np.zeros_like(r, bool)
    a[0, 0], b[2, 2] = True, True
    _, r_eff = N.circuit_current(r, a, b)
    g = 1 / r
    lap = np.zeros((9, 9))
    for (y, x) in np.ndindex(3, 3):
        for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
            yy, xx = y + dy, x + dx
            if 0 <= yy < 3 and 0 <= xx < 3:
                c = 0.5 * (g[y, x] + g[yy, xx]) / math.hypot(dy, dx)
                p, q = 3 * y + x, 3 * yy + xx
                lap[p, p] += c; lap[q, q] += c; lap[p, q] -= c; lap[q, p] -= c
    keep = [k for k in range(9) if k != 8]
    rhs = np.zeros(8); rhs[0] = 1.0
    assert r_eff == pytest.approx(np.linalg.solve(lap[np.ix_(keep, keep)], rhs)[0], rel=1e-9)


def test_t26_barrier_score_and_a_restored_barrier():
    # T26: LCD 100, fA 30, fB 40, r 5 (dia 10) → IS = 2.0 per unit (IS_pct 2 %)
    lcd, fa, fb, dia = 100.0, 30.0, 40.0, 10.0
    assert (lcd - fa - fb - dia) / dia == pytest.approx(2.0)
    # a corridor blocked by one wall of resistance 100: the score peaks at the wall
    r = np.ones((9, 21))
    r[:, 10] = 100.0
    a, b = np.zeros_like(r, bool), np.zeros_like(r, bool)
    a[:, 0], b[:, 20] = True, True
    cwd_a, cwd_b = N.cost_distance(r, a, 1.0), N.cost_distance(r, b, 1.0)
    lcd = float((cwd_a + cwd_b).min())
    score = N.barrier_score(lcd, cwd_a, cwd_b, 2.0, 1.0)
    assert score[4, 10] > 0 and score[4, 10] == score.max()
    assert score[4, 3] == 0.0


def test_network_on_a_small_grid_links_two_sources_and_flags_the_pinch():
    eco = np.full((40, 60), 2, np.uint8)
    eco[5:20, 2:12] = 1
    eco[5:20, 48:58] = 1
    landuse = np.full((40, 60), 103, np.int32)   # cropland (50)
    landuse[:, 12:48] = 702                      # villages (300) …
    landuse[10:13, 12:48] = 301                  # … crossed by a forest strip (1): the corridor
    out = run_model("eco_network", {"eco_importance": eco, "landuse": landuse}, params={"analysis_resolution_m": 30.0, "source_min_km2": 0.1})
    links = out["network_links"]
    assert len(links) == 1 and links["effective_resistance"].iloc[0] > 0
    assert out["corridor_nlcc"][11, 30] == pytest.approx(0.0, abs=1e-6)
    assert out["current_density"][11, 30] > out["current_density"][30, 30]
    assert set(np.unique(out["eco_sources"])) == {0, 1, 2}
    assert out["restoration_key_flags"][11, 30] & N.FLAG_PINCH
    # the vectors: two source polygons (STYD) and one corridor line (STLD) that runs along the forest strip
    features = out["network"]
    sources, lines = features[features["layer"] == "STYD"], features[features["layer"] == "STLD"]
    assert len(sources) == 2 and sources["MJ"].sum() == pytest.approx(2 * 150 * 900.0, rel=5e-3)
    assert len(lines) == 1 and lines["geometry"].iloc[0].geom_type == "LineString"
    ys = np.array(lines["geometry"].iloc[0].coords)[:, 1]
    middle = np.array(lines["geometry"].iloc[0].coords)[:, 0]
    inside = (middle > 400_000 + 14 * 30) & (middle < 400_000 + 46 * 30)
    rows = (2_550_000 - ys[inside]) / 30.0 - 0.5
    assert ((rows >= 10) & (rows <= 12)).all()  # between the sources the least-cost path stays in the strip's rows 10–12
    # its geodesic length: at least the gap between the sources (36 cells), and not much more
    assert 36 * 30 * 0.99 <= lines["CD"].iloc[0] <= 50 * 30
    summary = out["restoration_summary"]
    assert summary["pinch_count"].iloc[0] >= 1 and summary["pinch_m2"].iloc[0] > 0


def test_least_cost_path_against_a_plain_dijkstra():
    rng = np.random.default_rng(4)
    resistance = rng.uniform(1, 20, (15, 18))
    a, b = np.zeros(resistance.shape, bool), np.zeros(resistance.shape, bool)
    a[7, 0], b[3, 17] = True, True
    path = N.least_cost_path(resistance, a, b, 30.0)
    assert tuple(path[0]) == (7, 0) and tuple(path[-1]) == (3, 17)
    # the path's cost (ArcGIS edges: length × mean resistance) equals the cost distance to B
    steps = np.diff(path, axis=0)
    cost = sum(30.0 * math.hypot(*d) * (resistance[tuple(p)] + resistance[tuple(q)]) / 2 for d, p, q in zip(steps, path[:-1], path[1:]))
    assert cost == pytest.approx(N.cost_distance(resistance, a, 30.0)[3, 17], rel=1e-9)


def test_network_refuses_a_grid_that_would_not_fit():
    from evaluate.modelspec import Evaluation
    from models import MODELS
    from tests.helpers import raster_of

    eco = raster_of(np.ones((200, 200), np.uint8), chunks=(100, 100))
    params = {k: v["value"] for k, v in MODELS["eco_network"].SPEC.resolve({"analysis_resolution_m": 30.0, "max_memory_gib": 0.01}).items()}
    with pytest.raises(ValueError, match=r"analysis grid of 200 × 200 cells .* needs about .* GiB, over max_memory_gib"):
        MODELS["eco_network"].run({"eco_importance": eco, "landuse": eco.astype(np.int32)}, params, Evaluation())


def test_vegetation_decline_is_severe_below_the_p10_of_the_significant_declines():
    years = 12
    t = np.arange(years, dtype=np.float64)
    rates = np.linspace(-0.02, -0.002, 20)  # 20 cells of clean (significant) declines, steepest first
    series = 0.8 + rates[None, :] * t[:, None]
    flat = np.full((years, 2), 0.5) + np.array([0.0, 0.001])[None, :] * (t[:, None] % 2)  # no trend
    stack = np.concatenate([series, flat], axis=1)
    out = run_model("restoration_severity", {"fvc": np.full((1, 22), 0.8), **{f"ndvi_y{k + 1:02d}": stack[k][None, :] for k in range(years)}})
    veg = out["severity_vegetation"].ravel()
    # the P10 of the 20 significant slopes (inverted CDF) is the 2nd steepest: only the steepest lies below it
    assert veg[0] == 3 and (veg[1:20] == 2).all() and (veg[20:] == 0).all()
    fixed = run_model("restoration_severity", {"fvc": np.full((1, 22), 0.8), **{f"ndvi_y{k + 1:02d}": stack[k][None, :] for k in range(years)}},
                      params={"severe_decline": "threshold", "severe_decline_slope": -0.01})
    assert (fixed["severity_vegetation"].ravel()[:20] == np.where(rates < -0.01, 3, 2)).all()


def test_habitat_fragmentation_grows_with_the_edge_density_of_natural_land():
    n = 60
    landuse = np.full((n, n), 301, np.int32)          # forest …
    landuse[:, 30:] = np.where((np.add.outer(np.arange(n), np.arange(30)) % 4) == 0, 103, 301)  # … cut into strips on the right half
    out = run_model("restoration_severity", {"fvc": np.full((n, n), 0.8), "landuse": landuse}, params={"fragmentation_window_m": 150.0})
    frag = out["severity_fragmentation"]
    assert frag[30, 5] == 0 and frag[30, 45] >= 2      # intact forest vs fragmented
    assert (frag[landuse == 103] == 0).all()           # cropland is not habitat
    assert out["severity"][30, 45] >= 2 and "fragmentation" in P.PROBLEMS


def test_packed_splits_more_than_eight_layers():
    from models._common import packed
    from tests.helpers import raster_of

    x = raster_of(np.arange(6, dtype=np.uint8).reshape(2, 3))
    out = packed(lambda b: tuple((b + k).astype(np.uint8) for k in range(10)), x, names=tuple(f"l{k}" for k in range(10)))
    assert [int(out[f"l{k}"].values[1, 2]) for k in range(10)] == [5 + k for k in range(10)]


@pytest.mark.parametrize("method", ["continuous_natural_breaks", "continuous_cumulative"])
def test_continuous_priority_alternative(method):
    eco = np.array([[1, 1, 2, 2, 3, 3, 1, 3]], np.uint8)
    severity = np.array([[3, 1, 3, 2, 3, 0, 0, 1]], np.uint8)
    out = run_model("restoration_priority", {"eco_importance": eco, "severity": severity}, params={"method": method})
    index = out["restoration_priority_index"].ravel()
    assert index == pytest.approx([1.0, 1 / 3, 2 / 3, 4 / 9, 1 / 3, 0.0, 0.0, 1 / 9])
    classes = out["restoration_priority"].ravel()
    assert classes[0] == 1 and classes[5] == 5 and classes[6] == 4  # the highest P is 优先; no problem: 保护保育 (极重要) or 其他
    assert classes[7] == 3 and set(classes[:5]) <= {1, 2, 3}
    order = np.argsort(-index[:5])
    assert (np.diff(classes[:5][order].astype(int)) >= 0).all()  # a larger P never gets a lower-priority class


def test_resistance_multipliers_by_eco_slope_and_footprint():
    params = {"eco_multipliers": {1: 0.5, 2: 1.0, 3: 2.0}, "slope_breaks_deg": [8.0, 15.0, 25.0], "slope_multipliers": [1.0, 1.5, 2.0, 3.0],
              "footprint_weight": 4.0}
    m = N.resistance_multipliers(np.array([1, 3, 2, 2]), np.array([8.0, 8.1, 25.0, 30.0]), np.array([0.0, 0.5, 1.0, np.nan]), params)
    assert m.tolist() == pytest.approx([0.5, 2.0 * 1.5 * 3.0, 1.0 * 2.0 * 5.0, 3.0])
    # in the model: a village strip made expensive by a steep slope loses its current to the other strip
    eco = np.full((30, 40), 2, np.uint8)
    eco[5:25, 1:6] = 1
    eco[5:25, 34:39] = 1
    landuse = np.full((30, 40), 103, np.int32)
    slope = np.zeros((30, 40))
    slope[:15, 6:34] = 30.0
    out = run_model("eco_network", {"eco_importance": eco, "landuse": landuse, "slope": slope},
                    params={"analysis_resolution_m": 30.0, "source_min_km2": 0.05, "slope_multipliers": [1.0, 1.0, 1.0, 10.0]})
    assert out["current_density"][20, 20] > 5 * out["current_density"][8, 20]


# --------------------------------------------------------------------------- dPC (methods.md §9.3 item 1, Saura & Pascual-Hortal 2007)
def _brute_force_dpc(areas, distance, decay):
    """PC numerator and dPC by enumerating every simple path (no shortest-path algorithm), for a handful of patches."""
    import itertools

    def numerator(keep):
        total = 0.0
        for i in keep:
            for j in keep:
                best = 1.0 if i == j else 0.0
                others = [k for k in keep if k not in (i, j)]
                for length in range(len(others) + 1):
                    for middle in itertools.permutations(others, length):
                        stops = (i, *middle, j)
                        if i != j:
                            best = max(best, math.prod(math.exp(-decay * distance[a][b]) for a, b in zip(stops, stops[1:])))
                total += areas[i] * areas[j] * best
        return total

    n = len(areas)
    whole = numerator(range(n))
    return whole, [100.0 * (whole - numerator([k for k in range(n) if k != r])) / whole for r in range(n)]


def test_pc_and_dpc_by_hand_on_four_patches():
    from models.restoration import connectivity as C

    # patches 1–2–3 in a row (d 1, 1; 1 to 3 directly 3), patch 4 isolated; p = 0.5 at d = 1 (median dispersal 1)
    areas = np.array([1.0, 2.0, 1.0, 3.0])
    inf = math.inf
    d = np.array([[0, 1, 3, inf], [1, 0, 1, inf], [3, 1, 0, inf], [inf, inf, inf, 0]], dtype=float)
    k = C.decay_for_median(1.0)
    assert math.exp(-k * 1.0) == pytest.approx(0.5)
    p = C.max_product_probability(d, k)
    # 1 → 3: the direct link gives 0.5³ = 0.125, the stepping stone 2 gives 0.5 · 0.5 = 0.25 (max product)
    assert p[0, 2] == pytest.approx(0.25) and p[0, 1] == pytest.approx(0.5) and p[0, 3] == 0.0 and np.diag(p).tolist() == [1.0] * 4
    # Σ_i Σ_j a_i a_j p*_ij = (1 + 4 + 1 + 9) + 2 · (1·2·0.5 + 2·1·0.5 + 1·1·0.25) = 19.5; A_L = 10 → PC = 0.195
    assert C.probability_of_connectivity(areas, d, k, 10.0) == pytest.approx(19.5 / 100.0)
    # without 1 or 3: 4 + 1 + 9 + 2·2·1·0.5 = 16 → 3.5 lost; without 2: 1 + 1 + 9 + 2·0.125 = 11.25 (no stepping stone) → 8.25 lost;
    # without 4: 10.5 → 9 lost
    expected = [100 * 3.5 / 19.5, 100 * 8.25 / 19.5, 100 * 3.5 / 19.5, 100 * 9.0 / 19.5]
    np.testing.assert_allclose(C.delta_pc(areas, d, k), expected, rtol=1e-12)
    np.testing.assert_allclose(C.delta_pc(areas, d, k), _brute_force_dpc(areas, d, k)[1], rtol=1e-12)


def test_patch_distances_euclidean_and_least_cost():
    from models.restoration import connectivity as C

    sources = np.zeros((5, 12), np.int64)
    sources[1:3, 0:2] = 1      # nearest cells of 1 and 2: columns 1 and 5, same row → 4 cells
    sources[2, 5:7] = 2
    sources[4, 11] = 3         # from 2's cell (2, 6): 2 rows, 5 cols → √29 cells
    d = C.patch_distances(sources, 3, 30.0)
    assert d[0, 1] == pytest.approx(4 * 30.0) and d[1, 2] == pytest.approx(math.sqrt(29) * 30.0) and d[1, 0] == d[0, 1]
    assert d[0, 2] == pytest.approx(math.hypot(2, 10) * 30.0) and np.diag(d).tolist() == [0.0] * 3
    r = np.ones(sources.shape)
    r[:, 3] = 10.0                                # a wall between 1 and 2
    cost = np.stack([N.cost_distance(r, sources == k, 30.0) for k in (1, 2, 3)])
    d = C.patch_distances(sources, 3, 30.0, cost)
    # along row 2: cells 1 → 5 cross 2 + 10 and 10 + 1 and 1 + 1 … (length × mean resistance), 4 moves
    assert d[0, 1] == pytest.approx(30.0 * ((1 + 1) / 2 + (1 + 10) / 2 + (10 + 1) / 2 + (1 + 1) / 2))
    assert d[0, 1] == pytest.approx(cost[1][sources == 1].min())


def _dpc_landscape():
    """Forest everywhere (resistance 1): a big source A, a small stepping stone B between A and C, and E as large as B but far off."""
    eco = np.full((40, 90), 2, np.uint8)
    eco[5:15, 2:12] = 1      # A: 100 cells
    eco[8:12, 20:24] = 1     # B: 16 cells, 8 cells from A and from C
    eco[6:14, 32:40] = 1     # C: 64 cells
    eco[32:36, 84:88] = 1    # E: 16 cells, far from everything
    landuse = np.full(eco.shape, 301, np.int32)
    return eco, landuse, {"A": (10, 5), "B": (10, 21), "C": (10, 35), "E": (33, 85)}


def test_dpc_ranks_and_cuts_the_sources_of_the_network():
    eco, landuse, where = _dpc_landscape()
    base = {"analysis_resolution_m": 30.0, "source_min_km2": 0.01, "dpc_median_dispersal": 300.0}
    plain = run_model("eco_network", {"eco_importance": eco, "landuse": landuse}, params=base)
    assert np.isnan(plain["network"]["DPC"]).all()                   # off by default: today's sources, no dPC
    ranked = run_model("eco_network", {"eco_importance": eco, "landuse": landuse}, params={**base, "source_dpc": True})
    ids = {name: int(ranked["eco_sources"][cell]) for name, cell in where.items()}
    assert sorted(ids.values()) == [1, 2, 3, 4]
    # the expected dPC from the model's own cost surfaces, by brute force over paths
    r = np.ones(eco.shape)
    masks = {name: (ranked["eco_sources"] == ids[name]) for name in where}
    names = list(where)
    cost = {name: N.cost_distance(r, masks[name], 30.0) for name in names}
    d = [[0.0 if a == b else min(cost[a][masks[b]].min(), cost[b][masks[a]].min()) for b in names] for a in names]
    areas = [masks[name].sum() * 900.0 for name in names]
    whole, expected = _brute_force_dpc(areas, d, math.log(2) / 300.0)
    styd = ranked["network"][ranked["network"]["layer"] == "STYD"]
    got = {int(y): float(v) for y, v in zip(styd["YDBH"], styd["DPC"])}
    for name, value in zip(names, expected):
        assert got[ids[name]] == pytest.approx(value, rel=1e-9)
    # ids are the dPC rank; the stepping stone B outranks E of the same area, A (the largest) comes first
    assert [got[k] for k in sorted(got)] == sorted(got.values(), reverse=True)
    assert ids["A"] == 1 and ids["B"] < ids["E"]
    assert got[ids["B"]] > 5 * got[ids["E"]]
    # the top 2 by dPC (A and C here) keep their ids; the others are no sources, and links join only the kept
    top = run_model("eco_network", {"eco_importance": eco, "landuse": landuse}, params={**base, "source_top_n": 2})
    kept = {name for name in names if ids[name] <= 2}
    assert {name for name in names if top["eco_sources"][where[name]] > 0} == kept
    assert all(int(top["eco_sources"][where[n]]) == ids[n] for n in kept)
    assert set(top["network_links"]["source_a"]) | set(top["network_links"]["source_b"]) <= {1, 2}


@pytest.mark.parametrize("chunks", [(7, 13), (40, 17)])
def test_dpc_ranking_is_chunk_invariant(chunks):
    eco, landuse, _ = _dpc_landscape()
    params = {"analysis_resolution_m": 30.0, "source_min_km2": 0.01, "dpc_median_dispersal": 300.0, "source_top_n": 3}
    eager = run_model("eco_network", {"eco_importance": eco, "landuse": landuse}, params=params)
    lazy = run_model("eco_network", {"eco_importance": eco, "landuse": landuse}, params=params, chunks=chunks)
    np.testing.assert_array_equal(eager["eco_sources"], lazy["eco_sources"])
    np.testing.assert_array_equal(eager["network"]["DPC"].to_numpy(), lazy["network"]["DPC"].to_numpy())
    np.testing.assert_array_equal(eager["current_density"], lazy["current_density"])


def test_source_top_n_must_count_sources():
    from models import MODELS

    with pytest.raises(ValueError, match="source_top_n: must be a whole number"):
        MODELS["eco_network"].SPEC.resolve({"source_top_n": 2.5})
    with pytest.raises(ValueError, match="must be one of"):
        MODELS["eco_network"].SPEC.resolve({"dpc_distance": "straight"})
