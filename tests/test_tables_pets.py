"""Trajectory uniqueness for the person tracks of a real video release: PETS 2009 S2.L1 view 001
ground-truth tracks (../shared/datasets/pets2009_s2l1_view001, see its SOURCE.md)."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import shared_dataset

from auditkit.result import to_jsonable
from auditkit.tables.trajectories import sightings_from_boxes, trajectory_audit, zone_maps


@pytest.fixture(scope="module")
def pets_sightings():
    root = shared_dataset("pets2009_s2l1_view001")
    gt = pd.read_csv(root / "gt" / "gt.txt", header=None,
                     names=["frame", "id", "x", "y", "w", "h", "conf", "wx", "wy", "wz"])
    # PETS S2.L1 runs at about 7 fps (SOURCE.md); zones: a 4 x 3 grid over the 768 x 576 frame
    return sightings_from_boxes(gt, fps=7.0, frame_size=(768, 576), grid=(4, 3), camera="view001", unit_col="id")


def test_track_uniqueness_reported_and_coarsening_lowers_it(pets_sightings):
    s = pets_sightings
    out = trajectory_audit(s, p_values=(1, 2, 3, 4), time_bin="5s", bins=("1s", "5s", "15s", "1min", "5min"),
                           camera_maps=zone_maps(s, (4, 3), [(2, 2), (1, 1)]), random_state=0)
    u = out["trajectories"]["uniqueness"]
    assert u["units"] == 19  # 19 ground-truth track ids
    by = {r["p"]: r for r in u["by_p"]}
    assert all(r["n"] == 19 for r in u["by_p"])
    # four (zone, 5 s) points single out most tracks, far above random points
    assert by[4]["rate"] > 0.5 and by[4]["ci"][0] > by[4]["baseline"]
    curves = {c["space"]: c for c in out["trajectories"]["coarsening"]["curves"]}
    fine = curves["cameras as released"]["points"][0]["rate"]
    whole = curves["zones 1x1"]["points"][-1]["rate"]  # whole view, 5-minute slots
    assert fine > 0.5 and whole == 0.0
    # with 19 tracks, even zero unique cannot show <= 5% at 95%: said so, not hidden
    assert curves["zones 1x1"]["strength_needed"] is None and "cannot go below" in curves["zones 1x1"]["note"]
    names = [a.name for a in out["attacks"]]
    assert names == ["singling_out.trajectory", "singling_out.trajectory_top"]
    json.dumps(to_jsonable({**out, "attacks": [a.to_dict() for a in out["attacks"]]}))
    again = trajectory_audit(s, p_values=(1, 2, 3, 4), time_bin="5s", bins=("1s", "5s", "15s", "1min", "5min"),
                             camera_maps=zone_maps(s, (4, 3), [(2, 2), (1, 1)]), random_state=0)
    assert again["trajectories"] == out["trajectories"]
