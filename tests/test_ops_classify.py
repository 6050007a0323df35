"""Classification, class breaks and combination operators (methods.md §0.2, §0.3, §3.6, §3.7, §4.4–4.6, §5.3, §5.8, §11).

References: hand cases of methods.md §11 (T4–T9, T12–T16b, T29, T30), an
in-memory numpy implementation of §3.6 / §0.3 item 6, a sort-based quantile,
a plain-Python Fisher–Jenks, numpy overlays — and, for every operator, the
eager result against dask with random chunkings (1-cell chunks included).
"""
from __future__ import annotations

import math

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluate.grid import Grid, coords_of, georeference
from evaluate.ops import classify as C
from evaluate.ops import combine as M
from models._tables import table
from tests.helpers import chunkings, no_compute

# the guideline tables, from their one home (models/tables); the operators know no science
AGRI_FARMING_MATRIX = np.array(table("agriculture")["farming_matrix"]["matrix"], dtype=np.uint8)
AGRI_PRODUCTION_MATRIX = np.array(table("agriculture")["production_matrix"]["matrix"], dtype=np.uint8)
URBAN_CONSTRUCTION_MATRIX = np.array(table("urban")["construction_matrix"]["matrix"], dtype=np.uint8)
SENSITIVITY = table("ecology")["sensitivity_breaks"]


def raster(values, dtype=np.float64) -> xr.DataArray:
    values = np.asarray(values, dtype=dtype)
    if values.ndim == 1:
        values = values[None, :]
    return xr.DataArray(values, dims=("y", "x"))


def lazy(a: xr.DataArray, chunks) -> xr.DataArray:
    return a.chunk({"y": chunks[0], "x": chunks[1]})


# ---------------------------------------------------------------- independent references
def ref_cumulative_share(v: np.ndarray, q: np.ndarray | None = None, shares=(0.5, 0.8)):
    """methods.md §3.6 with §0.3 item 6, literally: one global sort, float64 cumsum, searchsorted(side='left')."""
    v = np.asarray(v, dtype=np.float64)
    q = v if q is None else np.asarray(q, dtype=np.float64)
    valid = np.isfinite(v) & np.isfinite(q)
    ranked = valid & (v > 0)
    order = np.argsort(-v[ranked], kind="stable")
    vs = v[ranked][order]
    cs = np.cumsum(np.maximum(q[ranked], 0.0)[order])
    breaks = [vs[np.searchsorted(cs, f * cs[-1], side="left")] for f in shares] if vs.size else [np.inf] * len(shares)
    classes = np.zeros(v.shape, dtype=np.uint8)
    classes[valid] = len(shares) + 1
    for k in range(len(shares) - 1, -1, -1):
        classes[ranked & (v >= breaks[k])] = k + 1
    return np.array(breaks), classes


def ref_quantile(values: np.ndarray, n: int) -> np.ndarray:
    s = np.sort(values[np.isfinite(values)])
    return np.array([s[-(-k * s.size // n) - 1] for k in range(1, n)])


def ref_jenks(values: np.ndarray, n: int) -> list[float]:
    """Plain-Python Fisher–Jenks on every sorted value (exact, O(n·N²)): the upper bound of each class but the last."""
    x = sorted(values)
    m = len(x)
    s1, s2 = [0.0], [0.0]
    for v in x:
        s1.append(s1[-1] + v)
        s2.append(s2[-1] + v * v)

    def ssd(a, b):  # points a..b inclusive
        cnt = b - a + 1
        s = s1[b + 1] - s1[a]
        return s2[b + 1] - s2[a] - s * s / cnt

    cost = [[math.inf] * m for _ in range(n)]
    back = [[0] * m for _ in range(n)]
    for i in range(m):
        cost[0][i] = ssd(0, i)
    for j in range(1, n):
        for i in range(j, m):
            for s in range(j, i + 1):
                c = cost[j - 1][s - 1] + ssd(s, i)
                if c < cost[j][i]:
                    cost[j][i], back[j][i] = c, s
    ends, i = [], m - 1
    for j in range(n - 1, 0, -1):
        i = back[j][i] - 1
        ends.append(i)
    return [x[e] for e in reversed(ends)]


def ref_rules(g: int, rules, best=1, worst=5):
    factor = 0
    for k, (cond, action, amount, grades) in enumerate(rules, start=1):
        if g == 0 or not cond or (grades and not grades[0] <= g <= grades[1]):
            continue
        new = {"downgrade": min(worst, g + amount), "upgrade": max(best, g - amount), "force": amount}[action]
        if new != g:
            g, factor = new, k
    return g, factor


def ties_with_nodata(shape, seed=0) -> np.ndarray:
    """Integers −3..20 (many ties, zeros and negatives) with NaN holes: a service surface with every edge case."""
    rng = np.random.default_rng(seed)
    v = rng.integers(-3, 21, shape).astype(np.float64)
    v[rng.random(shape) < 0.08] = np.nan
    return v


# ---------------------------------------------------------------- grading and reclass (§0.2, §11)
@pytest.mark.parametrize(
    "case, values, breaks, better, expected",
    [
        ("T4 slope", [2.0, 2.0001, 25.0, 25.01], [2, 6, 15, 25], "smaller", [1, 2, 4, 5]),
        ("T5 precipitation", [900, 1200, 199.9], [200, 400, 800, 1200], "larger", [2, 1, 5]),
        ("T6 heat", [4500, 7600, 1499], [1500, 4000, 5800, 7600], "larger", [3, 1, 5]),
        ("nodata", [np.nan, 7.0], [2, 6, 15, 25], "smaller", [0, 3]),
    ],
)
def test_apply_breaks_follows_boundary_semantics(case, values, breaks, better, expected):
    assert C.apply_breaks(raster(values), breaks, better=better).values.ravel().tolist() == expected
    # the same by the existing grade() (descending thresholds for larger-is-better) and by reclass
    thresholds = breaks if better == "smaller" else breaks[::-1]
    assert C.grade(raster(values), thresholds, better=better).values.ravel().tolist() == expected
    edges = [None, *breaks, None]
    if better == "smaller":
        table = [(lo, hi, k + 1) for k, (lo, hi) in enumerate(zip(edges, edges[1:]))]
        got = C.reclass(raster(values), table, closed="right")
    else:
        table = [(lo, hi, len(breaks) + 1 - k) for k, (lo, hi) in enumerate(zip(edges, edges[1:]))]
        got = C.reclass(raster(values), table, closed="left")
    assert got.values.ravel().tolist() == expected


def thi(t_c: float, rh: float) -> float:
    t_f = 1.8 * t_c + 32
    return t_f - 0.55 * (1 - rh) * (t_f - 58)


# methods.md §5.6 boundary convention: [50, 70] → 1; [45, 50) ∪ (70, 75] → 2; [40, 45) ∪ (75, 80] → 3; [35, 40) ∪ (80, 85] → 4; else 5
THI_TABLE = [
    (50, 70, 1, "both"),
    (45, 50, 2, "left"), (70, 75, 2, "right"),
    (40, 45, 3, "left"), (75, 80, 3, "right"),
    (35, 40, 4, "left"), (80, 85, 4, "right"),
    (None, 35, 5, "neither"), (85, None, 5, "neither"),
]


def test_reclass_thi_classes_t14():
    values = [thi(25, 0.7), thi(20, 0.6), thi(30, 0.8), thi(0, 0.5)]
    np.testing.assert_allclose(values, [73.865, 65.8, 82.92, 39.15])
    assert C.reclass(raster(values), THI_TABLE).values.ravel().tolist() == [2, 1, 4, 4]
    edges = [35, 40, 45, 50, 70, 75, 80, 85, 34.999, 85.001, np.nan]
    assert C.reclass(raster(edges), THI_TABLE).values.ravel().tolist() == [4, 3, 2, 1, 1, 2, 3, 4, 5, 5, 0]


def test_reclass_exact_values_and_errors():
    land_cover = raster([[11, 12, 21, 99], [0, 11, 21, 12]], dtype=np.int16)
    out = C.reclass(land_cover, {11: 1, 12: 1, 21: 3, 0: 7}, default=0)
    assert out.dtype == np.uint8
    assert out.values.tolist() == [[1, 1, 3, 0], [7, 1, 3, 1]]
    assert C.reclass(raster([1.5, 2.0]), [(2.0, 300)]).dtype == np.uint16
    with pytest.raises(ValueError, match="closed"):
        C.reclass(raster([1.0]), [(0, 1, 1)])
    with pytest.raises(ValueError, match="overlap"):
        C.reclass(raster([1.0]), [(0, 2, 1), (2, 3, 2)], closed="both")
    with pytest.raises(ValueError, match="overlap"):
        C.reclass(raster([1.0]), [(0, 5, 1, "right"), (2, 2)])
    with pytest.raises(ValueError, match="empty"):
        C.reclass(raster([1.0]), [(3, 3, 1, "left")])


# ---------------------------------------------------------------- cumulative share (§3.6, §0.3 item 6)
@pytest.mark.parametrize(
    "case, values, breaks, expected",
    [
        ("T16", [10, 8, 6, 4, 2], [8, 6], [1, 1, 2, 3, 3]),
        ("T16b ties", [5, 5, 5, 5], [5, 5], [1, 1, 1, 1]),
        ("nodata and non-positive", [np.nan, 0, -4, 6, 4], [6, 4], [0, 3, 3, 1, 2]),
        ("nothing positive", [0, -1, np.nan], [np.inf, np.inf], [3, 3, 0]),
    ],
)
def test_cumulative_share_cases(case, values, breaks, expected):
    np.testing.assert_array_equal(C.cumulative_share_breaks(raster(values)), breaks)
    out = C.cumulative_share(raster(values))
    assert out.dtype == np.uint8 and out.values.ravel().tolist() == expected


def test_t16_exact_tie_at_80_percent_is_not_a_rounding_accident():
    # CS reaches exactly 0.8·T at the value 6: with a tolerance or side="right" it would be 4
    v = raster([[2, 4], [6, 8], [10, np.nan]])
    assert C.cumulative_share(v).values.tolist() == [[3, 3], [2, 1], [1, 0]]


@pytest.mark.parametrize("seed", range(4))
def test_cumulative_share_equals_in_memory_sort_with_ties(seed):
    v = ties_with_nodata((37, 41), seed)
    ref_breaks, ref_classes = ref_cumulative_share(v)
    np.testing.assert_array_equal(C.cumulative_share_breaks(raster(v)), ref_breaks)
    np.testing.assert_array_equal(C.cumulative_share(raster(v)).values, ref_classes)
    shares = (0.1, 0.5, 0.8, 0.95, 1.0)
    np.testing.assert_array_equal(C.cumulative_share(raster(v), shares=shares).values, ref_cumulative_share(v, shares=shares)[1])


@pytest.mark.parametrize("seed", range(3))
def test_cumulative_share_continuous_values_over_many_magnitudes(seed):
    rng = np.random.default_rng(seed)
    v = rng.lognormal(0.0, 4.0, (60, 70)) * rng.choice([1.0, 1e-30, 1e30], (60, 70), p=[0.98, 0.01, 0.01])
    v[rng.random(v.shape) < 0.05] = -1.0
    ref_breaks, ref_classes = ref_cumulative_share(v)
    np.testing.assert_array_equal(C.cumulative_share_breaks(raster(v)), ref_breaks)
    np.testing.assert_array_equal(C.cumulative_share(raster(v)).values, ref_classes)


def test_cumulative_share_with_quantity_raster():
    rng = np.random.default_rng(7)
    v = ties_with_nodata((30, 30), 7)
    q = rng.integers(0, 50, v.shape).astype(np.float64)
    q[rng.random(v.shape) < 0.05] = np.nan
    q[3, 4] = -5.0  # a negative quantity is no service
    _, ref = ref_cumulative_share(v, q)
    got = C.cumulative_share(raster(v), quantity=raster(q)).values
    np.testing.assert_array_equal(got, ref)
    assert np.all(got[np.isnan(q)] == 0)


def geographic(values: np.ndarray) -> xr.DataArray:
    rows, cols = values.shape
    grid = Grid.from_bounds((100.0, 20.0, 100.0 + cols * 0.5, 20.0 + rows * 0.5), 0.5, "EPSG:4490")
    return georeference(xr.DataArray(values, coords=coords_of(grid), dims=("y", "x")), grid), grid


def test_cumulative_share_weights_rates_by_geodesic_cell_area():
    # 20°N–60°N: cell areas halve from bottom to top, and the largest values sit in the small northern cells
    v = ties_with_nodata((80, 12), 3) + np.arange(80, 0, -1)[:, None] // 4
    array, grid = geographic(v)
    q = v * grid.cell_area_m2()[:, None]
    ref_breaks, ref_classes = ref_cumulative_share(v, q)
    np.testing.assert_array_equal(C.cumulative_share_breaks(array, cell_area="grid"), ref_breaks)
    got = C.cumulative_share(array, cell_area="grid")
    np.testing.assert_array_equal(got.values, ref_classes)
    assert not np.array_equal(got.values, C.cumulative_share(array).values)  # the weighting matters here
    assert "spatial_ref" in got.coords
    with pytest.raises(ValueError, match="not both"):
        C.cumulative_share(array, quantity=array, cell_area="grid")


CS_VALUES = ties_with_nodata((23, 29), 11)
CS_EAGER = C.cumulative_share(raster(CS_VALUES)).values
GEO_VALUES, _ = geographic(np.abs(ties_with_nodata((23, 29), 12)))
GEO_EAGER = C.cumulative_share(GEO_VALUES, cell_area="grid").values


@settings(max_examples=15, deadline=None)
@given(chunks=chunkings((23, 29)))
def test_cumulative_share_is_identical_for_any_chunking(chunks):
    with no_compute():
        out = C.cumulative_share(lazy(raster(CS_VALUES), chunks))
        geo = C.cumulative_share(lazy(GEO_VALUES, chunks), cell_area="grid")
        breaks = C.cumulative_share_breaks(lazy(raster(CS_VALUES), chunks), shares=(0.3, 0.5, 0.8))
    assert isinstance(out.data, da.Array) and isinstance(breaks, da.Array)
    np.testing.assert_array_equal(out.values, CS_EAGER)
    np.testing.assert_array_equal(geo.values, GEO_EAGER)
    np.testing.assert_array_equal(breaks.compute(), ref_cumulative_share(CS_VALUES, shares=(0.3, 0.5, 0.8))[0])


Q_VALUES = np.where(np.random.default_rng(13).random((23, 29)) < 0.05, np.nan, np.random.default_rng(14).integers(0, 30, (23, 29)).astype(np.float64))
Q_EAGER = C.cumulative_share(raster(CS_VALUES), quantity=raster(Q_VALUES)).values


@settings(max_examples=15, deadline=None)
@given(chunks=chunkings((23, 29)), other=chunkings((23, 29)), numpy_values=st.booleans())
def test_cumulative_share_with_quantity_is_identical_for_any_chunking(chunks, other, numpy_values):
    values = raster(CS_VALUES) if numpy_values else lazy(raster(CS_VALUES), chunks)
    with no_compute():
        out = C.cumulative_share(values, quantity=lazy(raster(Q_VALUES), other))
    assert isinstance(out.data, da.Array)
    np.testing.assert_array_equal(out.values, Q_EAGER)
    np.testing.assert_array_equal(Q_EAGER, ref_cumulative_share(CS_VALUES, Q_VALUES)[1])


def test_one_cell_chunks():
    v = ties_with_nodata((6, 7), 21)
    cells = raster(v).chunk({"y": 1, "x": 1})
    with no_compute():
        classes = C.cumulative_share(cells)
        quantiles = C.apply_breaks(cells, C.quantile_breaks(cells, 3))
        natural = C.natural_breaks(cells, 3)
    np.testing.assert_array_equal(classes.values, ref_cumulative_share(v)[1])
    np.testing.assert_array_equal(quantiles.values, C.apply_breaks(raster(v), ref_quantile(v, 3)).values)
    np.testing.assert_array_equal(natural.compute(), C.natural_breaks(raster(v), 3))
    # lazy breaks applied to an in-memory raster give a lazy result
    lazy_breaks = C.quantile_breaks(cells, 3)
    with no_compute():
        mixed = C.apply_breaks(raster(v), lazy_breaks)
    assert isinstance(mixed.data, da.Array)
    np.testing.assert_array_equal(mixed.values, quantiles.values)


# ---------------------------------------------------------------- quantile, equal-interval, natural breaks
def test_quantile_breaks_equal_sort_reference_and_numpy():
    v = ties_with_nodata((31, 17), 5)
    for n in (2, 3, 4, 5, 7):
        got = C.quantile_breaks(raster(v), n)
        np.testing.assert_array_equal(got, ref_quantile(v, n))
    finite = v[np.isfinite(v)]
    np.testing.assert_array_equal(C.quantile_breaks(raster(v), 4), np.quantile(finite, [0.25, 0.5, 0.75], method="inverted_cdf"))
    assert np.isnan(C.quantile_breaks(raster([np.nan, np.nan]), 3)).all()
    assert C.apply_breaks(raster([np.nan, 1.0]), C.quantile_breaks(raster([np.nan, np.nan]), 3)).values.tolist() == [[0, 0]]


def test_equal_interval_breaks():
    v = ties_with_nodata((20, 20), 2)
    lo, hi = np.nanmin(v), np.nanmax(v)
    np.testing.assert_allclose(C.equal_interval_breaks(raster(v), 4), np.linspace(lo, hi, 5)[1:-1], rtol=0, atol=1e-12)
    # the [C-spj] sensitivity breaks are equal intervals of the 1..5 index range
    np.testing.assert_allclose(C.equal_interval_breaks(raster([1.0, 5.0]), 3), [7 / 3, 11 / 3])


def clusters(seed: int, centres=(3.0, 10.0, 18.0, 40.0), size=40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(c, 1.0 + 0.1 * c, size) for c in centres])


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n", [3, 4])
def test_natural_breaks_within_one_bin_of_exact_jenks(seed, n):
    v = clusters(seed)
    bins = 512
    width = (v.max() - v.min()) / bins
    got = C.natural_breaks(raster(v), n, bins=bins)
    exact = ref_jenks(v.tolist(), n)
    assert np.all(np.abs(got - np.array(exact)) <= width), (got, exact)
    assert set(got.tolist()) <= set(v.tolist())  # breaks are data values (class upper bounds)
    classes = C.apply_breaks(raster(v), got).values.ravel()
    assert sorted(set(classes.tolist())) == list(range(1, n + 1))


def test_natural_breaks_degenerate_inputs():
    np.testing.assert_array_equal(C.natural_breaks(raster([1.0, 1.0, 2.0]), 4), [1.0, 2.0, 2.0])
    assert np.isnan(C.natural_breaks(raster([np.nan]), 3)).all()


BREAK_VALUES = np.where(np.isnan(CS_VALUES), np.nan, CS_VALUES + np.random.default_rng(1).normal(0, 0.3, CS_VALUES.shape))
BREAKS_EAGER = {
    "quantile": C.quantile_breaks(raster(BREAK_VALUES), 5),
    "natural": C.natural_breaks(raster(BREAK_VALUES), 4, bins=256),
    "equal": C.equal_interval_breaks(raster(BREAK_VALUES), 3),
}


@settings(max_examples=15, deadline=None)
@given(chunks=chunkings((23, 29)))
def test_breaks_and_their_classes_are_identical_for_any_chunking(chunks):
    values = lazy(raster(BREAK_VALUES), chunks)
    with no_compute():
        breaks = {
            "quantile": C.quantile_breaks(values, 5),
            "natural": C.natural_breaks(values, 4, bins=256),
            "equal": C.equal_interval_breaks(values, 3),
        }
        classes = {k: C.apply_breaks(values, b, better="larger" if k == "equal" else "smaller") for k, b in breaks.items()}
    for k, b in breaks.items():
        assert isinstance(b, da.Array)
        np.testing.assert_array_equal(b.compute(), BREAKS_EAGER[k])
        eager = C.apply_breaks(raster(BREAK_VALUES), BREAKS_EAGER[k], better="larger" if k == "equal" else "smaller")
        np.testing.assert_array_equal(classes[k].values, eager.values)


# ---------------------------------------------------------------- judgement matrices (§4.4, §4.5, §5.3)
def test_matrix_lookup_t7_t8_t12():
    land, water, heat = raster([2, 3], np.uint8), raster([3, 4], np.uint8), raster([3, 2], np.uint8)
    farm = M.matrix_lookup(AGRI_FARMING_MATRIX, land, water)
    assert farm.values.ravel().tolist() == [2, 4]  # T7: land 2, water 3 → 2; T8: land 3, water 4 → 4
    assert M.matrix_lookup(AGRI_PRODUCTION_MATRIX, farm, heat).values.ravel().tolist() == [2, 4]
    urban = M.matrix_lookup(URBAN_CONSTRUCTION_MATRIX, raster([1, 3], np.uint8), raster([5, 4], np.uint8))
    assert urban.dtype == np.uint8 and urban.values.ravel().tolist() == [3, 3]  # T12


def test_matrix_lookup_every_cell_nodata_and_range():
    g1, g2 = np.meshgrid(np.arange(0, 7), np.arange(0, 7), indexing="ij")
    out = M.matrix_lookup(AGRI_FARMING_MATRIX.tolist(), raster(g1, np.uint8), raster(g2, np.uint8)).values
    for a in range(7):
        for b in range(7):
            expected = AGRI_FARMING_MATRIX[a - 1][b - 1] if 1 <= a <= 5 and 1 <= b <= 5 else 0
            assert out[a, b] == expected
    floats = M.matrix_lookup(AGRI_FARMING_MATRIX, raster([1.0, np.nan, 2.5, 5.0]), raster([1.0, 1.0, 1.0, 5.0]))
    assert floats.values.ravel().tolist() == [1, 0, 0, 5]
    cube = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) + 1
    got = M.matrix_lookup(cube, raster([2, 1], np.uint8), raster([3, 2], np.uint8), raster([4, 1], np.uint8))
    assert got.values.ravel().tolist() == [cube[1, 2, 3], cube[0, 1, 0]]
    with pytest.raises(ValueError, match="needs 2 grade layers"):
        M.matrix_lookup(AGRI_FARMING_MATRIX, raster([1], np.uint8))


# ---------------------------------------------------------------- chained corrections (§4.6, §5.8)
def agri_rules(soil_env, salin, met):
    return [
        M.Rule(soil_env == 5, "force", 5, name="soil env 低"),
        (soil_env == 3, ("downgrade", 1)),
        (salin == 3, "downgrade", 1),
        M.Rule(met == 1, "downgrade", 1, name="met hazard 高"),
    ]


def test_apply_rules_t9_chained_with_limiting_factor():
    # T9: T7 (production condition 2) + soil_env 中 + 盐渍化 极敏感 + met-hazard 4: 2 → 3 → 4 → 4
    grade = raster([2, 2, 1, 0], np.uint8)
    soil_env, salin, met = raster([3, 5, 1, 3], np.uint8), raster([3, 1, 1, 3], np.uint8), raster([4, 4, 1, 1], np.uint8)
    out, factor = M.apply_rules(grade, agri_rules(soil_env, salin, met), limiting_factor=True, name="agri_cond")
    assert out.values.ravel().tolist() == [4, 5, 2, 0]
    assert factor.values.ravel().tolist() == [3, 1, 4, 0]
    assert factor.attrs["flag_meanings"][1] == "soil env 低" and factor.name == "agri_cond_limiting_factor"
    # [C-spj]'s bug applied every rule to the uncorrected grade and kept the last: 2 + 1 = 3, not 4
    assert M.apply_rules(grade, agri_rules(soil_env, salin, met)).values.ravel()[0] == 4


def urban_rules(geohaz, surge, air, water_env, comfort, location):
    return [
        (geohaz == 1, "force", 5),
        (geohaz == 2, "downgrade", 2),
        (geohaz == 3, "downgrade", 1),
        (surge == 1, "downgrade", 1),
        ((air == 5) & (water_env == 5), "downgrade", 2),
        ((air == 5) ^ (water_env == 5), "downgrade", 1),
        (comfort == 5, "downgrade", 1),
        (location == 5, "downgrade", 2),
        (location == 4, "downgrade", 1),
        (location == 1, "upgrade", 1, (2, 4)),
    ]


def test_apply_rules_urban_chain_t13_and_geohazard_forcing_t29():
    urb = M.matrix_lookup(URBAN_CONSTRUCTION_MATRIX, raster([2, 1], np.uint8), raster([3, 1], np.uint8))
    assert urb.values.ravel().tolist() == [2, 1]
    layers = dict(
        geohaz=raster([2, 1], np.uint8), surge=raster([3, 3], np.uint8), air=raster([3, 3], np.uint8),
        water_env=raster([3, 3], np.uint8), comfort=raster([2, 2], np.uint8), location=raster([1, 1], np.uint8),
    )
    out, factor = M.apply_rules(urb, urban_rules(**layers), limiting_factor=True)
    # T13: 2 → GEOHAZ 2 +2 → 4 → location 好 −1 → 3; T29: URB 1, GEOHAZ 1 → 5 (and 5 is outside 2..4, no upgrade)
    assert out.values.ravel().tolist() == [3, 5]
    assert factor.values.ravel().tolist() == [10, 1]


def test_apply_rules_against_plain_python_chain():
    rng = np.random.default_rng(3)
    shape = (9, 11)
    grade = rng.integers(0, 6, shape).astype(np.uint8)
    conds = [rng.random(shape) < 0.4 for _ in range(5)]
    specs = [("downgrade", 1, None), ("upgrade", 2, None), ("force", 4, None), ("downgrade", 3, (1, 2)), ("upgrade", 1, (3, 5))]
    rules = [(raster(c, np.bool_), a, n, gr) if gr else (raster(c, np.bool_), a, n) for c, (a, n, gr) in zip(conds, specs)]
    out, factor = M.apply_rules(raster(grade, np.uint8), rules, limiting_factor=True)
    for i in range(shape[0]):
        for j in range(shape[1]):
            ref = ref_rules(int(grade[i, j]), [(c[i, j], a, n, gr) for c, (a, n, gr) in zip(conds, specs)])
            assert (out.values[i, j], factor.values[i, j]) == ref
    nan_condition = raster([np.nan, 1.0])  # a missing optional factor is neutral
    assert M.apply_rules(raster([2, 0], np.uint8), []).values.tolist() == [[2, 0]]
    assert M.apply_rules(raster([2, 2], np.uint8), [(nan_condition, "downgrade", 1)]).values.tolist() == [[2, 3]]


# ---------------------------------------------------------------- overlays (§3.7, §3.8.1, §5.4)
@pytest.mark.parametrize(
    "case, scores, index, sen",
    [
        ("T15", [5, 3, 3, 3], 3.409, 2),
        ("T15b four", [1, 1, 5, 5], 2.236, 2),
        ("T15b three in (2.0, 2.1)", [1, 3, 3], 2.080, 2),
        ("T15b all 5", [5, 5, 5], 5.0, 3),
        ("T30", [5, 5, 5], 5.0, 3),
        ("all 1", [1, 1, 1, 1], 1.0, 1),
    ],
)
def test_geometric_mean_and_sensitivity_classes(case, scores, index, sen):
    layers = [raster([s], np.uint8) for s in scores]
    got = M.geometric_mean(layers)
    assert got.dtype == np.float32
    assert got.values.item() == pytest.approx(index, abs=5e-4)
    assert M.sensitivity_class(got, SENSITIVITY["2017"]).values.item() == sen


def test_sensitivity_class_boundaries_and_spj_breaks():
    index = raster([2.0, 2.0000001, 2.05, 4.0, 4.0001, np.nan, 2.34, 3.66, 3.67])
    assert M.sensitivity_class(index, SENSITIVITY["2017"]).values.ravel().tolist() == [1, 2, 2, 2, 3, 0, 2, 2, 2]
    assert M.sensitivity_class(index, SENSITIVITY["spj"]).values.ravel().tolist() == [1, 1, 1, 3, 3, 0, 2, 2, 3]


def test_geometric_mean_and_weighted_sum_against_numpy():
    rng = np.random.default_rng(4)
    a, b, c = (rng.uniform(0.5, 5.0, (13, 17)) for _ in range(3))
    a[2, 3] = np.nan
    grades = rng.integers(0, 4, (13, 17)).astype(np.uint8)  # 0 = nodata in a class layer
    layers = [raster(a), raster(b), raster(c), raster(grades, np.uint8)]
    gm = M.geometric_mean(layers, dtype=np.float64).values
    ref = (a * b * c * grades) ** 0.25
    ref[grades == 0] = np.nan
    np.testing.assert_allclose(gm, ref, rtol=1e-12)
    ws = M.weighted_sum(layers, [0.2, 0.4, 0.4, 1.0], dtype=np.float64).values
    ref = 0.2 * a + 0.4 * b + 0.4 * c + grades
    ref[grades == 0] = np.nan
    np.testing.assert_allclose(ws, ref, rtol=1e-12)
    assert np.isnan(M.geometric_mean([raster([-1.0]), raster([2.0])]).values).all()


def test_integrate_min_max_with_limiting_factor():
    rng = np.random.default_rng(5)
    stack = rng.integers(0, 6, (4, 10, 12)).astype(np.uint8)
    layers = [raster(s, np.uint8) for s in stack]
    nodata = (stack == 0).any(axis=0)
    for how, reduce, arg in (("min", np.min, np.argmin), ("max", np.max, np.argmax)):
        values, which = M.integrate(layers, how, limiting_factor=True)
        ref = np.where(nodata, 0, reduce(stack, axis=0))
        ref_which = np.where(nodata, 0, arg(stack, axis=0) + 1)  # numpy's arg* also take the first on ties
        np.testing.assert_array_equal(values.values, ref)
        np.testing.assert_array_equal(which.values, ref_which)
        assert values.dtype == np.uint8 and which.dtype == np.uint8
    floats = M.integrate([raster([1.0, np.nan, 3.0]), raster([2.0, 1.0, 0.0])], "min").values
    np.testing.assert_array_equal(floats, [[1.0, np.nan, 0.0]])


SHAPE = (19, 23)
_rng = np.random.default_rng(9)
G1, G2, G3 = (raster(_rng.integers(0, 7, SHAPE), np.uint8) for _ in range(3))
F1, F2 = raster(_rng.uniform(0.5, 5, SHAPE)), raster(np.where(_rng.random(SHAPE) < 0.1, np.nan, _rng.uniform(1, 5, SHAPE)))
CONDS = [raster(_rng.random(SHAPE) < 0.3, np.bool_) for _ in range(4)]
RULES = [(CONDS[0], "force", 5), (CONDS[1], "downgrade", 1), (CONDS[2], "upgrade", 2, (2, 4)), (CONDS[3], "downgrade", 2)]


def combine_all(g1, g2, g3, f1, f2, conds):
    rules = [(c, *r[1:]) for c, r in zip(conds, RULES)]
    graded, factor = M.apply_rules(g1, rules, limiting_factor=True)
    low, which = M.integrate([g1, g2, g3], "min", limiting_factor=True)
    return {
        "matrix": M.matrix_lookup(URBAN_CONSTRUCTION_MATRIX, g1, g2),
        "rules": graded,
        "factor": factor,
        "min": low,
        "which": which,
        "sum": M.weighted_sum([f1, f2, g3], [0.2, 0.3, 0.5]),
        "gmean": M.geometric_mean([f1, f2, g2]),
        "reclass": C.reclass(f1, THI_TABLE),
        "sens": M.sensitivity_class(f2, SENSITIVITY["2017"]),
    }


COMBINE_EAGER = combine_all(G1, G2, G3, F1, F2, CONDS)


@settings(max_examples=15, deadline=None)
@given(chunks=chunkings(SHAPE), other=chunkings(SHAPE), numpy_layer=st.booleans())
def test_combination_is_identical_for_any_chunking(chunks, other, numpy_layer):
    g3 = G3 if numpy_layer else lazy(G3, other)  # mixed numpy/dask and misaligned chunks are unified
    with no_compute():
        out = combine_all(lazy(G1, chunks), lazy(G2, other), g3, lazy(F1, chunks), lazy(F2, other), [lazy(c, other) for c in CONDS])
    for key, array in out.items():
        assert isinstance(array.data, da.Array), key
        assert array.dtype == COMBINE_EAGER[key].dtype, key
        np.testing.assert_array_equal(array.values, COMBINE_EAGER[key].values, err_msg=key)
