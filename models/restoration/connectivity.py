"""Probability of connectivity (PC) and the importance of each source patch, dPC (methods.md §9.3 item 1).

Saura, S. & Pascual-Hortal, L. (2007). A new habitat availability index to
integrate connectivity in landscape conservation planning: comparison with
existing indices and application to a case study. *Landscape and Urban
Planning* 83, 91–103:

    PC     = Σ_i Σ_j a_i · a_j · p*_ij / A_L²
    dPC_k  = 100 · (PC − PC_remove,k) / PC

where a_i is the area of patch i, A_L the area of the study area, and p*_ij
the *maximum-product probability* over all paths from i to j of the direct
dispersal probabilities p_ij = exp(−k · d_ij) (p*_ii = 1). PC_remove,k is PC
of the landscape without patch k: a_k = 0 *and* k no longer a stepping stone,
so p* is recomputed on the graph without k (Saura & Rubio 2010, *Ecography*
33, 523–537, whose connector fraction of dPC is exactly this loss). A_L
cancels in dPC; it only scales PC.

Decay: p = 0.5 at the median dispersal distance d₅₀, so k = ln 2 / d₅₀ — the
(distance, probability) pair by which Conefor Sensinode (Saura & Torné 2009,
*Environmental Modelling & Software* 24, 135–139) parameterises the
negative-exponential kernel of Saura & Pascual-Hortal (2007).

Since −ln p_ij = k · d_ij, the maximum-product path is the shortest path on
the distances: p*_ij = exp(−k · D_ij) with D the all-pairs shortest-path
distance over the complete graph of direct distances (Floyd–Warshall,
``scipy.sparse.csgraph``). Everything here is over n source patches (tens, at
most hundreds): dPC costs n + 1 all-pairs solves, O(n⁴).
"""
from __future__ import annotations

import math

import numpy as np
import scipy.ndimage as ndi
from scipy.sparse.csgraph import shortest_path

__all__ = ["decay_for_median", "max_product_probability", "probability_of_connectivity", "delta_pc", "patch_distances"]


def decay_for_median(median_dispersal: float) -> float:
    """The decay k of p = exp(−k·d) that gives p = 0.5 at ``median_dispersal``: k = ln 2 / d₅₀.

    Source: the (distance, probability) parameterisation of Conefor
    Sensinode (Saura & Torné 2009) with probability 0.5, i.e. half of the
    dispersers cross a gap of the median dispersal distance.
    """
    if not (np.isfinite(median_dispersal) and median_dispersal > 0):
        raise ValueError(f"the median dispersal distance must be positive and finite, got {median_dispersal!r}")
    return math.log(2.0) / float(median_dispersal)


def max_product_probability(distance: np.ndarray, decay: float) -> np.ndarray:
    """p*_ij: the largest product of direct probabilities exp(−k·d) along any path from i to j (p*_ii = 1).

    Source: Saura & Pascual-Hortal (2007), eq. 2–3. −ln of a product is the
    sum of k·d along the path, so the best path is the shortest path on the
    distances (Floyd–Warshall). ``distance`` is a symmetric (n, n) matrix;
    ``inf`` means no direct link (p = 0).
    """
    d = np.asarray(distance, dtype=np.float64)
    n = d.shape[0]
    if n == 0:
        return np.zeros((0, 0))
    # csgraph reads 0 and inf as "no edge": a zero distance (touching patches) must stay a link of p = 1,
    # so it is nudged to the smallest positive float, whose exp(−k·tiny) is 1 in float64
    weights = np.where(np.isfinite(d), np.maximum(d, np.finfo(np.float64).tiny), np.inf)
    np.fill_diagonal(weights, np.inf)
    shortest = shortest_path(weights, method="FW", directed=False)
    np.fill_diagonal(shortest, 0.0)
    return np.exp(-decay * shortest)


def _pc_numerator(areas: np.ndarray, distance: np.ndarray, decay: float) -> float:
    """Σ_i Σ_j a_i a_j p*_ij (ordered pairs, i = j included)."""
    a = np.asarray(areas, dtype=np.float64)
    return float(a @ max_product_probability(distance, decay) @ a)


def probability_of_connectivity(areas: np.ndarray, distance: np.ndarray, decay: float, landscape_area: float) -> float:
    """PC = Σ_i Σ_j a_i a_j p*_ij / A_L² (Saura & Pascual-Hortal 2007, eq. 1); between 0 and 1.

    Parameters
    ----------
    areas : (n,) float
        Patch areas a_i (any unit, the same as ``landscape_area``).
    distance : (n, n) float
        Direct inter-patch distances d_ij (symmetric; inf: no link).
    decay : float
        k of p_ij = exp(−k · d_ij), in 1 / (unit of ``distance``).
    landscape_area : float
        A_L, the area of the whole study area (habitat and non-habitat).
    """
    return _pc_numerator(areas, distance, decay) / float(landscape_area) ** 2


def delta_pc(areas: np.ndarray, distance: np.ndarray, decay: float) -> np.ndarray:
    """dPC_k = 100 · (PC − PC_remove,k) / PC for every patch k, in percent.

    Source: Saura & Pascual-Hortal (2007), eq. 4, with PC_remove,k computed
    on the landscape without k (its area and its links gone, paths through it
    too; Saura & Rubio 2010). A_L cancels, so it is not needed here.

    Parameters
    ----------
    areas : (n,) float
        Patch areas a_i.
    distance : (n, n) float
        Direct inter-patch distances (symmetric; inf: no link).
    decay : float
        k of p_ij = exp(−k · d_ij).

    Returns
    -------
    (n,) float64
        dPC of every patch, 0–100 %.
    """
    a = np.asarray(areas, dtype=np.float64)
    d = np.asarray(distance, dtype=np.float64)
    n = a.size
    if n == 0:
        return np.zeros(0)
    whole = _pc_numerator(a, d, decay)
    out = np.empty(n)
    for k in range(n):
        rest = np.arange(n) != k
        out[k] = 100.0 * (whole - _pc_numerator(a[rest], d[np.ix_(rest, rest)], decay)) / whole
    return out


def patch_distances(sources: np.ndarray, count: int, cell_m: float, cost: np.ndarray | None = None) -> np.ndarray:
    """Direct distances between source patches 1…count on the analysis grid: least cost, or Euclidean.

    With ``cost`` (a (count, rows, cols) stack, ``cost[i]`` the accumulated
    cost from patch i + 1 as :func:`models.restoration.network.cost_distance`
    gives it): d_ij = the least cost from patch i to the nearest cell of
    patch j, in cost units (resistance × m) — Linkage Mapper's cost-weighted
    distance between cores (McRae & Kavanagh), which Conefor accepts as
    "effective" distance. Without ``cost``: the Euclidean distance in metres
    between the nearest cell centres of the two patches (exact EDT), which
    exceeds the edge-to-edge polygon distance by at most one cell diagonal.
    The matrix is symmetrised by the minimum (the least-cost distance is
    symmetric; this only removes round-off); the diagonal is 0; unreachable
    pairs are inf.
    """
    d = np.full((count, count), np.inf)
    index = np.arange(1, count + 1)
    for i in range(count):
        if cost is not None:
            surface = np.where(np.isfinite(cost[i]), cost[i], np.inf)
        else:
            surface = ndi.distance_transform_edt(sources != i + 1, sampling=(cell_m, cell_m))
        d[i] = ndi.minimum(surface, labels=sources, index=index)
    d = np.minimum(d, d.T)
    np.fill_diagonal(d, 0.0)
    return d
