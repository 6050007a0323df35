"""2020 composite location (methods.md §5.7) and the 2019 城镇综合优势度 matrix."""
import numpy as np
import pytest

from models.urban import factors as F
from tests.helpers import run_model


def test_composite_is_the_mean_of_three_grades_with_halves_to_the_worse_class():
    out = F.composite_location(np.array([1, 1, 2, 5, 0]), np.array([1, 2, 2, 5, 1]), np.array([1, 2, 3, 4, 1]))
    # means 1, 5/3 → 2, 7/3 → 2, 14/3 → 5, nodata
    assert out.tolist() == [1, 2, 2, 5, 0]
    assert F.composite_location(np.array([1]), np.array([2]), np.array([2]))[0] == 2  # 5/3
    assert F.composite_location(np.array([1]), np.array([2]), np.array([3]))[0] == 2  # exactly 2
    assert F.composite_location(np.array([2]), np.array([3]), np.array([2]))[0] == 2  # 7/3
    assert F.composite_location(np.array([2]), np.array([3]), np.array([3]))[0] == 3  # 8/3
    assert F.composite_location(np.array([1, 3]), np.array([2, 4]), np.array([2, 3]))[1] == 3  # 10/3


def test_composite_location_on_a_grid():
    # a 200 × 200 grid of 30 m cells (6 km): a highway (class 1) along row 100 through the centre, no other roads
    n = 200
    roads = np.zeros((n, n), np.int16)
    roads[100, :] = 1
    travel = np.full((n, n), 15.0)  # every cell within 20 min: access grade 1
    out = run_model("location", {"road_class": roads, "travel_time": travel}, params={"method": "composite"})["location"]
    # density: one road row in the 167-row window = 1/167 × 33.3 km/km² = 0.1996 → grade 5 (< 0.2);
    # trunk distance ≤ 5 km everywhere → 1; access 1 → mean (5 + 1 + 1)/3 = 2.33 → 2
    assert out[100, 100] == 2
    # roads every 10th row: 3.3 km/km² → 1; travel 45 min → 3 (county 40–60): (1 + 1 + 3)/3 = 1.67 → 2; 65 min → 4: 2 → 2; 95 min → 5: 2.33 → 2
    dense = np.zeros((n, n), np.int16)
    dense[::10, :] = 2
    dense[100, :] = 1
    for minutes, expected in ((45.0, 2), (15.0, 1)):
        got = run_model("location", {"road_class": dense, "travel_time": np.full((n, n), minutes)}, params={"method": "composite"})["location"]
        assert got[100, 100] == expected
    # the 2019 default (travel time only) gives 1 everywhere
    out_tt = run_model("location", {"road_class": roads, "travel_time": travel}, params={"method": "travel_time"})["location"]
    assert (out_tt == 1).all()
    # auto: composite in 2020trial, travel time in 2019draft
    auto_2019 = run_model("location", {"road_class": roads, "travel_time": travel}, guideline="2019draft")["location"]
    assert (auto_2019 == 1).all()


def test_composite_needs_roads():
    with pytest.raises(ValueError, match="road_class"):
        run_model("location", {"travel_time": np.full((3, 3), 10.0)}, params={"method": "composite"})


@pytest.mark.parametrize("comfort, location, expected", [(1, 1, 1), (1, 3, 2), (2, 5, 4), (3, 5, 5), (4, 2, 3), (5, 1, 3), (5, 5, 5), (4, 1, 2)])
def test_urban_advantage_matrix(comfort, location, expected):
    out = run_model("urban_advantage", {"comfort": np.array([[comfort]], np.uint8), "location": np.array([[location]], np.uint8)})
    assert out["urban_advantage"][0, 0] == expected
