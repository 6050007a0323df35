"""Carrying scale (methods.md §6; §11 T27, T28) and conflicts / potential (§7)."""
import numpy as np
import pandas as pd
import pytest

from models import capacity as C
from models._tables import table
from tests.helpers import run_model

UNIT = {"w_total_m3": 5e8, "r_ag": 0.6, "q_irr_m3_per_mu": 400, "a_rainfed_ha": 10000, "w_unreasonable_m3": 0, "r_li": 0.3, "q_pc_m3": 100, "a_pc_m2": 100}


def test_t27_agricultural_scale_land_binds():
    row = C.carrying_scale(45000 * 1e4, 0.0, UNIT)
    assert row["agri_water_m2"] == pytest.approx(60000 * 1e4)
    assert row["agri_scale_m2"] == pytest.approx(45000 * 1e4) and row["agri_binding"] == "land"


def test_t28_urban_scale_water_binds():
    row = C.carrying_scale(0.0, 200 * 1e6, UNIT)
    assert row["urban_water_persons"] == pytest.approx(1.5e6)
    assert row["urban_scale_m2"] == pytest.approx(150 * 1e6) and row["urban_binding"] == "water"


def test_without_a_water_cap_land_binds_and_water_terms_are_nan():
    row = C.carrying_scale(10.0, 20.0, {**UNIT, "w_total_m3": None})
    assert np.isnan(row["agri_water_m2"]) and row["agri_binding"] == "land" and row["urban_scale_m2"] == 20.0


def test_carrying_scale_table_per_admin_unit_leaves_out_extremely_important_cells():
    admin = np.array([[1, 1, 2, 2]], np.int32)
    agri = np.array([[1, 2, 1, 9]], np.uint8)
    urban = np.array([[3, 1, 1, 1]], np.uint8)
    eco = np.array([[2, 2, 1, 1]], np.uint8)
    out = run_model("carrying_scale", {"admin": admin, "agri_suit": agri, "urban_suit": urban, "eco_importance": eco},
                    params={"w_total_m3": 5e8, "units": {2: {"w_total_m3": 1.0}}})
    frame = out["carrying_scale"]
    assert isinstance(frame, pd.DataFrame) and frame["admin"].tolist() == [1, 2]
    assert frame["agri_land_m2"].tolist() == pytest.approx([1800.0, 0.0])  # two 900 m² cells; unit 2's cells are 极重要
    assert frame["urban_land_m2"].tolist() == pytest.approx([900.0, 0.0])
    assert frame["w_total_m3"].tolist() == [5e8, 1.0]
    assert frame["agri_land_mu"][0] == pytest.approx(1800.0 * 3 / 2000)
    assert {"agri_binding", "urban_binding", "urban_water_persons", "agri_scale_ha"} <= set(frame.columns)


def test_conflict_and_potential_bits():
    groups = {k: list(v) for k, v in table("landuse")["groups"].items()}
    eco = np.array([1, 2, 2, 2, 2, 2, 2])
    landuse = np.array([103, 101, 701, 702, 404, 1206, 1101])
    agri = np.array([1, 3, 1, 1, 1, 1, 1])
    urban = np.array([1, 1, 3, 1, 1, 1, 1])
    geo = np.array([5, 5, 5, 1, 5, 5, 5])
    flags, potential = C.conflict_bits(eco, landuse, agri, urban, geo, None, None, groups, 1)
    assert flags.tolist() == [1, 2, 4, 8, 0, 0, 0]
    assert potential.tolist() == [0, 0, 0, 0, 3, 3, 0]  # reclaimable 其他草地/裸土地 (P1) also urban-suitable non-construction (P2); water neither
    # the sub-flags (2019 draft, no 极重要 masking): C2/C3 cells that are also 极重要 get 16/32 on top of C1
    eco1 = np.array([1, 1, 1])
    flags, _ = C.conflict_bits(eco1, np.array([101, 701, 101]), np.array([3, 1, 1]), np.array([1, 3, 1]), None, None, None, groups, 1)
    assert flags.tolist() == [1 | 2 | 16, 1 | 4 | 32, 1]


def test_conflicts_model_writes_the_area_table():
    out = run_model("conflicts", {"eco_importance": np.array([[1, 1, 2]], np.uint8), "landuse": np.array([[103, 103, 404]], np.int32),
                                  "agri_suit": np.array([[9, 9, 1]], np.uint8), "admin": np.array([[7, 7, 7]], np.int32)})
    table_ = out["conflict_areas"]
    c1 = table_[table_["indicator"].str.startswith("C1")]
    assert c1["area_m2"].tolist() == pytest.approx([1800.0]) and c1["dlmc"].tolist() == ["旱地"]
    assert table_[table_["indicator"].str.startswith("P1")]["area_m2"].tolist() == pytest.approx([900.0])
