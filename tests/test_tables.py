"""auditkit.tables on tables the tests build: hand-computed answers and brute-force oracles."""
from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auditkit.attacks.tables import (
    encode_mixed,
    exact_linkage,
    gower_nearest,
    inference,
    nearest_linkage,
    score_attack,
    singling_out,
)
from auditkit.scoring.stats import wilson_interval
from auditkit.scoring.table_measures import (
    k_anonymity,
    l_diversity,
    reidentification_risks,
    suggest_qi,
    t_closeness,
    uniqueness,
)
from auditkit.tables import TableError, load_table, prepare_table, run_table_audit, trajectory_audit
from auditkit.tables.trajectories import (
    coarsening_curve,
    load_sightings,
    trajectory_linkage,
    trajectory_uniqueness,
)

ROOT = Path(__file__).resolve().parents[1]


def random_table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(20, 30, n).astype(float),
        "sex": rng.choice(["F", "M"], n),
        "zip": rng.choice(["100", "101", "102", None], n),
        "disease": rng.choice(["flu", "cold", "hiv", "none"], n, p=[0.4, 0.3, 0.1, 0.2]),
        "income": rng.choice([10.0, 20.0, 30.0, 40.0, 50.0], n),
    })


# ---------------------------------------------------------------- oracles written plainly

def classes_oracle(df, qi):
    groups = {}
    for i, row in df.iterrows():
        key = tuple("<NA>" if pd.isna(row[c]) else row[c] for c in qi)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def test_k_uniqueness_l_t_match_brute_force_oracles():
    for seed in range(3):
        df = random_table(150, seed)
        qi = ["age", "sex", "zip"]
        groups = classes_oracle(df, qi)
        assert k_anonymity(df, qi) == min(len(g) for g in groups)
        assert uniqueness(df, qi) == pytest.approx(sum(len(g) == 1 for g in groups) / len(df))
        # l-diversity
        dist, ent = [], []
        for g in groups:
            cnt = Counter(df.loc[g, "disease"])
            dist.append(len(cnt))
            ps = [c / len(g) for c in cnt.values()]
            ent.append(math.exp(-sum(p * math.log(p) for p in ps)))
        ld = l_diversity(df, qi, "disease")
        assert ld["distinct"] == min(dist)
        assert ld["entropy"] == pytest.approx(min(ent))
        # t-closeness, categorical (equal distance): 1/2 sum |p - q|
        q_all = Counter(df["disease"])
        worst = 0.0
        for g in groups:
            cnt = Counter(df.loc[g, "disease"])
            worst = max(worst, 0.5 * sum(abs(cnt[v] / len(g) - q_all[v] / len(df)) for v in q_all))
        assert t_closeness(df, qi, "disease")["t"] == pytest.approx(worst)
        # t-closeness, numeric (ordered distance, Li et al. 2007)
        vals = sorted(df["income"].unique())
        m = len(vals)
        qn = [float((df["income"] == v).mean()) for v in vals]
        worst = 0.0
        for g in groups:
            sub = df.loc[g, "income"]
            p = [float((sub == v).mean()) for v in vals]
            emd = sum(abs(sum(p[j] - qn[j] for j in range(i + 1))) for i in range(m - 1)) / (m - 1)
            worst = max(worst, emd)
        tc = t_closeness(df, qi, "income")
        assert tc["ordered"] is True
        assert tc["t"] == pytest.approx(worst)


def test_t_closeness_hand_computed_li_example():
    # Li et al. 2007: salaries {3k..11k}, a class holding {3k,4k,5k} vs the whole {3k..11k}: EMD 0.375
    df = pd.DataFrame({"g": ["a"] * 3 + ["b"] * 6, "salary": [3, 4, 5, 6, 7, 8, 9, 10, 11]})
    assert t_closeness(df, ["g"], "salary")["t"] == pytest.approx(0.375)
    # equal distance for categorical: a class with one value out of two equally frequent: 0.5
    df2 = pd.DataFrame({"g": ["a", "a", "b", "b"], "s": ["x", "x", "y", "y"]})
    assert t_closeness(df2, ["g"], "s")["t"] == pytest.approx(0.5)


def test_arx_risks_hand_computed():
    # release classes on q: A x1, B x2, C x3 ; population: A x2, B x4, C x3 (+ D x5 not released)
    rel = pd.DataFrame({"q": ["A"] + ["B"] * 2 + ["C"] * 3})
    pop = pd.DataFrame({"q": ["A"] * 2 + ["B"] * 4 + ["C"] * 3 + ["D"] * 5})
    r = reidentification_risks(rel, ["q"], population=pop, threshold=0.4)
    n = 6
    # prosecutor: 1/f > 0.4 for A (1) and B (0.5): 3 records; highest 1; average classes/n = 3/6
    assert r["prosecutor"] == pytest.approx({"records_at_risk": 3 / n, "highest_risk": 1.0, "average_risk": 0.5})
    # journalist: 1/F: A .5, B .25, C .333 -> only A (1 record) above .4; highest 1/2;
    # average max(3/(2+4+3), (1/2 + 2/4 + 3/3)/6)
    assert r["journalist"]["records_at_risk"] == pytest.approx(1 / n)
    assert r["journalist"]["highest_risk"] == pytest.approx(0.5)
    assert r["journalist"]["average_risk"] == pytest.approx(max(3 / 9, (0.5 + 0.5 + 1.0) / 6))
    assert r["marketer"]["average_risk"] == pytest.approx((0.5 + 0.5 + 1.0) / 6)
    assert r["marketer"]["highest_risk"] is None
    # without a population the journalist equals the prosecutor
    r0 = reidentification_risks(rel, ["q"], threshold=0.4)
    assert r0["journalist"] == pytest.approx(r0["prosecutor"])


# ---------------------------------------------------------------- loading and bad input

def test_load_csv_strips_missing_dates_text_identifiers(tmp_path):
    rows = ["name,email,phone,age,zip,visit,iso,comment,code"]
    for i in range(30):
        rows.append(f" Person {i}, p{i}@example.org, +44 20 7946 {1000 + i},  {20 + i % 7}, ?, "
                    f"{(i % 28) + 1:02d}/03/2021, 2021-03-{(i % 28) + 1:02d}T10:00:00Z, "
                    f"\"I visited the clinic on a Tuesday because of a long story number {i}\", 0{i % 3}")
    rows.append(" Zed, z@example.org, NA, NA, , 13/03/2021, 2021-03-13T10:00:00Z, short, 01")
    p = tmp_path / "rel.csv"
    p.write_text("\n".join(rows) + "\n")
    t = load_table(p)
    kinds = t.kinds()
    assert kinds["age"] == "numeric" and t.df["age"].iloc[0] == 20.0
    assert t.df["age"].isna().sum() == 1
    assert kinds["zip"] == "categorical" and t.df["zip"].isna().all()  # '?' and '' are missing
    assert kinds["visit"] == "date" and t.columns["visit"].date_format == "%d/%m/%Y"
    assert t.df["visit"].iloc[12] == pd.Timestamp("2021-03-13")
    assert kinds["iso"] == "date"
    assert kinds["comment"] == "text"
    assert kinds["code"] == "categorical"  # leading zeros kept as codes, not numbers
    flagged = {d["column"]: d["reason"] for d in t.direct_identifiers}
    assert "name" in flagged and "email" in flagged and "phone" in flagged
    assert "e-mail" in flagged["email"]
    # a free-text column is refused as QI with a message naming it
    with pytest.raises(TableError, match="'comment'.*free text"):
        run_table_audit(t, qi=["age", "comment"])


def test_ignored_manifest_columns_are_not_analysed():
    df = pd.DataFrame({"path": [f"img_{i}.jpg" for i in range(30)], "x": range(30),
                       "cam": ["a", "b", "c"] * 10, "hour": [i % 4 for i in range(30)]})
    audit = run_table_audit(df, ignore=["path", "x"])
    assert audit.tables["direct_identifiers"] == [] and set(audit.tables["qi"]) <= {"cam", "hour"}
    loud = run_table_audit(df, qi="cam,hour")
    assert any("'path'" in w and "DIRECT IDENTIFIER" in w for w in loud.warnings)
    with pytest.raises(TableError, match=r"ignored column\(s\) \['nope'\] not found in table 'release'"):
        run_table_audit(df, ignore=["nope"])


def test_phone_values_flagged_under_an_innocent_name():
    df = pd.DataFrame({"contact": [f"+1 (555) 010-{i:04d}" for i in range(40)], "x": ["a", "b"] * 20})
    t = prepare_table(df, name="r")
    assert any(d["column"] == "contact" and "phone" in d["reason"] for d in t.direct_identifiers)
    audit = run_table_audit(t, qi=["contact", "x"])
    assert any("DIRECT IDENTIFIER" in w and "contact" in w for w in audit.warnings)


def test_missing_column_errors_name_column_and_table(tmp_path):
    rel = pd.DataFrame({"age": [1, 2, 3], "sex": ["F", "M", "F"]})
    aux = pd.DataFrame({"age": [1, 2, 3]})
    with pytest.raises(TableError, match=r"\['sex'\] not found in table 'aux'"):
        run_table_audit(rel, aux=aux, qi="age,sex")
    with pytest.raises(TableError, match=r"\['zip'\] not found in table 'release'"):
        run_table_audit(rel, qi="age,zip")
    pq = tmp_path / "t.parquet"
    pq.write_bytes(b"PAR1")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        with pytest.raises(TableError, match="pyarrow"):
            load_table(pq)
    xl = tmp_path / "x.xlsx"  # read since issue 14; an empty file is no workbook (or openpyxl is missing)
    xl.write_text("")
    with pytest.raises(TableError, match=r"x\.xlsx.*(cannot read x\.xlsx as an Excel workbook|openpyxl)"):
        load_table(xl)
    ods = tmp_path / "x.ods"
    ods.write_text("")
    with pytest.raises(TableError, match="unsupported file type '.ods'"):
        load_table(ods)
    with pytest.raises(TableError, match="file not found"):
        load_table(tmp_path / "absent.csv")


def test_ambiguous_dates_warn_and_bad_date_errors():
    t = prepare_table(pd.DataFrame({"d": ["01/02/2020", "03/04/2020", "05/06/2020"]}), name="r")
    assert t.columns["d"].kind == "date"
    assert any("day/month" in w for w in t.warnings)


def test_suggest_qi_gives_reasons_and_skips_identifiers():
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"id": [f"u{i}" for i in range(n)], "zip": rng.choice([f"z{i}" for i in range(40)], n),
                       "sex": rng.choice(["F", "M"], n), "dept": ["all"] * n,
                       "yob": rng.integers(1950, 2000, n)})
    t = prepare_table(df, name="r")
    qi, reasons = suggest_qi(t)
    assert "id" not in qi and "direct identifier" in reasons["id"]
    assert "dept" not in qi
    assert qi[0] in ("zip", "yob") and set(qi) <= {"zip", "yob", "sex"}
    assert all("raises the fraction of unique records" in reasons[c] for c in qi)


# ---------------------------------------------------------------- Gower NN vs brute force

def gower_oracle(qrow, crow, num_cols, cat_cols, lo, rng_):
    d = 0.0
    for c in num_cols:
        a, b = qrow[c], crow[c]
        fa = 0.0 if pd.isna(a) else (a - lo[c]) / rng_[c]
        fb = 0.0 if pd.isna(b) else (b - lo[c]) / rng_[c]
        d += abs(fa - fb) + (1 if pd.isna(a) != pd.isna(b) else 0)
    for c in cat_cols:
        a, b = qrow[c], crow[c]
        same = (pd.isna(a) and pd.isna(b)) or (not pd.isna(a) and not pd.isna(b) and a == b)
        d += 0 if same else 1
    return d


def test_gower_nearest_matches_brute_force_oracle():
    for seed in range(2):
        rng = np.random.default_rng(seed)
        c = random_table(250, seed)
        q = random_table(40, seed + 10)
        q.loc[:5, "sex"] = "X"  # no block: forces the brute-force path
        c.loc[c.sample(20, random_state=seed).index, "age"] = np.nan
        cols = ["age", "income", "sex", "zip"]
        kinds = {"age": "numeric", "income": "numeric", "sex": "categorical", "zip": "categorical"}
        qe, ce = encode_mixed([q, c], cols, kinds)
        dmin, ties, n_brute = gower_nearest(qe, ce)
        assert n_brute >= 6
        both = pd.concat([q, c])
        lo = {k: both[k].min() for k in ("age", "income")}
        rg = {k: both[k].max() - both[k].min() for k in ("age", "income")}
        qr, cr = q.to_dict("records"), c.to_dict("records")
        for i in range(len(q)):
            d = [gower_oracle(qr[i], cr[j], ["age", "income"], ["sex", "zip"], lo, rg) for j in range(len(c))]
            best = min(d)
            assert dmin[i] == pytest.approx(best)
            assert sorted(ties[i]) == [j for j in range(len(c)) if d[j] <= best + 1e-9]
        del rng


# ---------------------------------------------------------------- attacks

def test_exact_linkage_hand_computed_with_ground_truth():
    aux = pd.DataFrame({"subject": ["a", "b", "c", "d", "e"], "age": [30, 30, 40, 50, 50], "sex": list("FFMFF")})
    rel = pd.DataFrame({"subject": ["a", "c", "d", "z"], "age": [30, 40, 50, 60], "sex": list("FMFM")})
    r = exact_linkage(rel, aux, ["age", "sex"], id_col="subject")
    # a: 2 candidates -> 1/2; c: unique -> 1; d: 2 candidates -> 1/2; z: no match and not in aux -> 0
    assert r.metrics["success_rate"] == pytest.approx((0.5 + 1 + 0.5) / 4)
    assert r.metrics["baseline"] == pytest.approx((3 / 4) / 5)
    assert r.metrics["rank1"] == r.metrics["success_rate"] and r.metrics["chance_rank1"] == r.metrics["baseline"]
    assert r.metrics["success_rate_ci"] == pytest.approx(wilson_interval(2.0, 4))
    assert r.name == "linkage.exact" and r.criterion == "linkability" and r.cue == "table" and r.risk is None
    assert r.metrics["control"] is None and r.metrics["n"] == 4


def test_nearest_linkage_survives_perturbation_that_defeats_exact():
    rng = np.random.default_rng(1)
    n = 300
    aux = pd.DataFrame({"subject": [f"s{i}" for i in range(n)], "age": rng.integers(18, 90, n).astype(float),
                        "height": rng.normal(170, 10, n).round(1), "sex": rng.choice(["F", "M"], n)})
    rel = aux.copy()
    rel["height"] = rel["height"] + rng.normal(0, 0.3, n).round(2)  # noise: exact matches vanish
    kinds = {"age": "numeric", "height": "numeric", "sex": "categorical"}
    ex = exact_linkage(rel, aux, ["age", "height", "sex"], id_col="subject")
    nn = nearest_linkage(rel, aux, ["age", "height", "sex"], kinds, id_col="subject")
    assert ex.metrics["success_rate"] < 0.1
    assert nn.metrics["success_rate"] > 0.8
    assert nn.metrics["advantage_ci"][0] > 0.7


def test_singling_out_univariate_and_control():
    # the release is the original data; a rare value singles out exactly one person in it,
    # and in a control of the same size drawn without that person it does not.
    rel = pd.DataFrame({"job": ["nurse"] * 10 + ["pilot"], "city": ["X"] * 5 + ["Y"] * 6})
    ctl = pd.DataFrame({"job": ["nurse"] * 11, "city": ["X"] * 5 + ["Y"] * 6})
    kinds = {"job": "categorical", "city": "categorical"}
    r = singling_out(rel, rel, ["job", "city"], kinds, mode="univariate", n_attacks=10, control=ctl)
    assert r.metrics["n"] == 1  # only 'pilot' is held by one record
    assert r.metrics["success_rate"] == 1.0 and r.metrics["control"] == 0.0
    assert r.name == "singling_out.univariate" and r.criterion == "singling_out"
    # reference: the stronger of baseline and control (here the random predicates' rate)
    ref = max(r.metrics["baseline"], r.metrics["control"])
    assert r.metrics["reference"] == ("control" if r.metrics["control"] > r.metrics["baseline"] else "baseline")
    lo, hi = wilson_interval(1, 1)
    assert r.metrics["advantage_ci"] == pytest.approx(((lo - ref) / (1 - ref), (hi - ref) / (1 - ref)))


def test_singling_out_multivariate_and_predicate_counts_match_brute_force():
    from auditkit.attacks.tables import _Counter, _random_queries

    df = random_table(400, 3)
    kinds = {"age": "numeric", "sex": "categorical", "zip": "categorical", "disease": "categorical",
             "income": "numeric"}
    r = singling_out(df, df, list(kinds), kinds, mode="multivariate", n_attacks=50, n_cols=3, random_state=1)
    assert r.metrics["n"] > 5
    assert r.metrics["success_rate"] == 1.0  # evaluated on the very records they were built on
    r2 = singling_out(df, df, list(kinds), kinds, mode="multivariate", n_attacks=50, n_cols=3, random_state=1)
    assert r2.metrics == r.metrics  # seeded
    queries = _random_queries(df, list(kinds), kinds, 3, 300, np.random.default_rng(0))
    queries += [[("zip", "isna", None), ("sex", "==", "F")], [("age", "==", 25.0), ("zip", "!=", "100")]]
    counter = _Counter(df, list(kinds))
    ops = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
           ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b}
    records = df.to_dict("records")
    for q in queries:
        expect = 0
        for row in records:
            ok = True
            for col, op, v in q:
                x = row[col]
                if op == "isna":
                    ok &= pd.isna(x)
                else:
                    ok &= (not pd.isna(x)) and bool(ops[op](x, v))
            expect += ok
        assert counter.count(q) == expect, q


def test_inference_determined_attribute_and_baseline():
    rng = np.random.default_rng(0)
    n = 500
    df = pd.DataFrame({"zip": rng.choice(["a", "b", "c", "d"], n), "age": rng.integers(20, 60, n).astype(float)})
    df["dx"] = df["zip"].map({"a": "flu", "b": "flu", "c": "hiv", "d": "cold"})
    ctl = df.sample(200, random_state=1).copy()
    ctl["dx"] = rng.permutation(ctl["dx"].to_numpy())  # outsiders: their dx does not follow zip
    kinds = {"zip": "categorical", "age": "numeric", "dx": "categorical"}
    r = inference(df, df, ["zip", "age"], "dx", kinds, control=ctl, n_attacks=300)
    assert r.metrics["success_rate"] == 1.0
    freq = df["dx"].value_counts(normalize=True)
    tgt = df.iloc[np.sort(np.random.default_rng(0).choice(n, 300, replace=False))]
    random_draw = float(tgt["dx"].map(freq).mean())
    majority = float((tgt["dx"] == df["dx"].mode().iloc[0]).mean())  # "flu" for everyone
    assert majority > random_draw  # flu is half the table: the majority guess is the stronger baseline
    assert r.metrics["baseline"] == pytest.approx(max(random_draw, majority))
    assert r.metrics["control"] < 0.7
    assert r.name == "inference.dx" and r.criterion == "inference"


def test_score_attack_residual_and_bonferroni_interval():
    r = score_attack(name="x", criterion="inference", successes=80, n=100, baseline=0.2, control_successes=40,
                     control_n=100, n_identities=10)
    assert r.metrics["reference"] == "control"
    assert r.metrics["advantage"] == pytest.approx((0.8 - 0.4) / 0.6)
    a_lo, a_hi = wilson_interval(80, 100, confidence=0.975)
    c_lo, c_hi = wilson_interval(40, 100, confidence=0.975)
    assert r.metrics["advantage_ci"] == pytest.approx(((a_lo - c_hi) / (1 - c_hi), (a_hi - c_lo) / (1 - c_lo)))
    r2 = score_attack(name="x", criterion="inference", successes=80, n=100, baseline=0.5, control_successes=40,
                      control_n=100, n_identities=10)
    lo, hi = wilson_interval(80, 100)
    assert r2.metrics["reference"] == "baseline"
    assert r2.metrics["advantage_ci"] == pytest.approx(((lo - 0.5) / 0.5, (hi - 0.5) / 0.5))


# ---------------------------------------------------------------- end to end

def test_run_table_audit_end_to_end_json():
    rng = np.random.default_rng(5)
    n = 600
    people = pd.DataFrame({"subject": [f"p{i}" for i in range(n)], "age": rng.integers(20, 70, n).astype(float),
                           "sex": rng.choice(["F", "M"], n), "zip": rng.choice([f"z{i}" for i in range(30)], n),
                           "dx": rng.choice(["a", "b", "c"], n)})
    rel, ctl = people.iloc[:400], people.iloc[400:]
    audit = run_table_audit(rel, aux=people, control=ctl, qi="age,sex,zip", sensitive="dx", n_attacks=100,
                            n_inference=200)
    t = audit.tables
    for key in ("k_anonymity", "uniqueness", "l_diversity", "t_closeness", "qi", "qi_suggested_reasons",
                "direct_identifiers", "equivalence_class_sizes", "explanation"):
        assert key in t
    for model in ("prosecutor", "journalist", "marketer"):
        assert set(t[model]) == {"records_at_risk", "highest_risk", "average_risk"}
    assert t["id_col"] == "subject"  # ground truth used, never a QI
    names = [a.name for a in audit.attacks]
    assert names[:2] == ["linkage.exact", "linkage.nearest"] and "inference.dx" in names
    ex = audit.attacks[0].metrics
    # every release record is in aux with identical QIs: success = mean over records of 1/F
    F = people.groupby(["age", "sex", "zip"]).size()
    expect = np.mean([1 / F[(r.age, r.sex, r.zip)] for r in rel.itertuples()])
    assert ex["success_rate"] == pytest.approx(expect)
    json.dumps(audit.to_dict())
    again = run_table_audit(rel, aux=people, control=ctl, qi="age,sex,zip", sensitive="dx", n_attacks=100,
                            n_inference=200)
    assert json.dumps(again.to_dict()) == json.dumps(audit.to_dict())  # deterministic


# ---------------------------------------------------------------- trajectories

def _sightings():
    base = pd.Timestamp("2024-05-01 08:00")
    rows = []
    # u1 and u2 share camera A at 08:00; they differ later. u3 visits only B.
    for unit, subj, pts in [("t1", "s1", [("A", 0), ("B", 60), ("C", 120)]),
                            ("t2", "s2", [("A", 0), ("B", 60), ("D", 180)]),
                            ("t3", "s3", [("B", 60)])]:
        for cam, minutes in pts:
            rows.append({"track": unit, "subject": subj, "camera": cam,
                         "timestamp": (base + pd.Timedelta(minutes=minutes)).isoformat()})
    return pd.DataFrame(rows)


def test_trajectory_uniqueness_hand_computed():
    s = load_sightings(_sightings())
    u = trajectory_uniqueness(s, p_values=(1, 3), time_bin="1h", n_samples=1000)
    by = {r["p"]: r for r in u["by_p"]}
    # p=3: t1 and t2 have 3 points each and no one else holds all three -> both unique;
    # t3 has one point, attacked with it, and shares it -> not unique
    assert by[3]["n"] == 3 and by[3]["unique"] == 2 and by[3]["fewer_points"] == 1
    # p=1: points (A,8h) shared by t1,t2; (B,9h) by all; (C,10h) only t1; (D,11h) only t2; t3's one point is shared.
    # exact expectation with all 3 units evaluated: t1 unique w.p. 1/3, t2 1/3, t3 0 -> 2/9
    assert by[1]["n"] == 3
    assert 0.0 <= by[1]["rate"] <= 2 / 3
    # top locations at p=3: {A,B,C} and {A,B,D} are each held by one unit
    assert by[3]["top_locations"]["rate"] == 1.0
    # coarsening to a whole day keeps the cameras: still unique; merging all cameras makes no one unique
    cur = coarsening_curve(s, p=3, bins=("1h", "1D"), camera_maps={"one place": {c: "X" for c in "ABCD"}})
    merged = cur["curves"][1]
    assert merged["points"][1]["n"] == 0 or merged["points"][1]["rate"] == 0.0


def test_trajectory_linkage_and_audit():
    rel = _sightings()
    aux = pd.DataFrame({"subject": ["s1", "s2"], "camera": ["C", "D"],
                        "timestamp": ["2024-05-01T10:02:00", "2024-05-01T11:01:00"]})
    out = trajectory_audit(rel, aux=aux, p_values=(1, 2), bins=("1h", "1D"), tolerance="5min")
    link = next(a for a in out["attacks"] if a.name == "linkage.trajectory")
    assert link.metrics["success_rate"] == 1.0 and link.metrics["baseline"] == pytest.approx(1 / 3)
    assert link.metrics["rank1"] == 1.0 and link.cue == "trajectory"
    names = [a.name for a in out["attacks"]]
    assert "singling_out.trajectory" in names
    # beyond the tolerance nothing matches and the attacker is left with a uniform guess
    far = aux.assign(timestamp=["2024-05-01T10:30:00", "2024-05-01T11:40:00"])
    r = trajectory_linkage(load_sightings(rel), load_sightings(far), tolerance="5min")
    assert r.metrics["success_rate"] == pytest.approx(1 / 3)


# ---------------------------------------------------------------- template

def test_tables_partial_renders_and_escapes():
    from auditkit.report.environment import environment

    env = environment()
    df = pd.DataFrame({"<script>alert(1)</script>": ["a", "a", "b"], "dx": ["x", "y", "x"]})
    audit = run_table_audit(df, qi=["<script>alert(1)</script>"], sensitive="dx")
    tables = audit.to_dict()["tables"]
    tables["trajectories"] = trajectory_audit(_sightings(), p_values=(1, 2), bins=("1h",))["trajectories"]
    html = env.get_template("partials/tables.html.j2").render(tables=tables)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "k-anonymity" in html and "Prosecutor" in html and "not defined" in html
    assert "Trajectories across cameras" in html
    empty = env.get_template("partials/tables.html.j2").render(results={"tables": None})
    assert "No table was audited" in empty


def _iso_dates(n: int) -> list[str]:
    start = pd.Timestamp("2019-01-01")
    return [(start + pd.Timedelta(days=i % 700)).strftime("%Y-%m-%d") for i in range(n)]


def test_one_bad_date_in_a_large_column_is_missing_not_an_error():
    # over 5000 rows the bad cell may fall outside the sample the format is chosen on
    for pos in range(0, 6000, 600):
        vals = _iso_dates(6000)
        vals[pos] = "2020-02-30"
        t = prepare_table(pd.DataFrame({"d": vals, "x": ["a", "b"] * 3000}), name="r")
        assert t.columns["d"].kind == "date" and t.columns["d"].date_format == "%Y-%m-%d"
        assert t.columns["d"].missing == 1 and t.df["d"].isna().sum() == 1 and pd.isna(t.df["d"].iloc[pos])
        assert any("1 value(s)" in w and "'2020-02-30'" in w and "missing" in w for w in t.warnings)


def test_one_bad_date_in_a_small_column_stays_a_date_not_an_identifier():
    vals = _iso_dates(400)
    vals[123] = "2020-02-30"
    t = prepare_table(pd.DataFrame({"d": vals, "x": ["a", "b"] * 200}), name="r")
    assert t.columns["d"].kind == "date" and t.columns["d"].missing == 1
    assert pd.isna(t.df["d"].iloc[123]) and t.df["d"].iloc[0] == pd.Timestamp("2019-01-01")
    assert any("'2020-02-30'" in w for w in t.warnings)
    assert all(d["column"] != "d" for d in t.direct_identifiers)
    # many bad cells: not a date column (no error either)
    vals = _iso_dates(400)
    for i in range(0, 400, 20):
        vals[i] = "2020-02-30"
    assert prepare_table(pd.DataFrame({"d": vals}), name="r").columns["d"].kind != "date"


def test_top_locations_scored_against_a_camera_only_baseline():
    # t1 and t2 are seen at cameras A and B, t3 at C and D, each at 10 distinct hours of its own.
    # Random 2-camera sets: {A,B} is held by 2 trajectories, {C,D} by 1, the other 4 pairs by none
    # -> camera-only baseline 1/6. Top locations: only t3's {C,D} isolates -> 1/3.
    base = pd.Timestamp("2024-05-01")
    rows = []
    for k, (unit, cams) in enumerate([("t1", "AB"), ("t2", "AB"), ("t3", "CD")]):
        for cam in cams:
            for h in range(10):
                rows.append({"track": unit, "camera": cam,
                             "timestamp": (base + pd.Timedelta(hours=100 * k + 10 * (cam in "BD") + h)).isoformat()})
    u = trajectory_uniqueness(load_sightings(pd.DataFrame(rows)), p_values=(2,), time_bin="1h", n_samples=4000)
    top = u["by_p"][0]["top_locations"]
    assert top["unique"] == 1 and top["n"] == 3
    assert top["baseline_n"] == 4000 and top["baseline"] == pytest.approx(1 / 6, abs=0.03)
    out = trajectory_audit(pd.DataFrame(rows), p_values=(2,), bins=("1h",), n_samples=4000)
    att = {a.name: a for a in out["attacks"]}
    t = att["singling_out.trajectory_top"]
    assert t.metrics["baseline"] == pytest.approx(1 / 6, abs=0.03)
    assert t.metrics["baseline"] != att["singling_out.trajectory"].metrics["baseline"]
    assert "cameras only" in t.details["baseline"]


def test_sightings_without_time_camera_or_unit_are_counted():
    rel = _sightings()
    extra = pd.DataFrame({"track": ["t1", None, "t2", "t3"], "subject": ["s1", "s9", "s2", "s3"],
                          "camera": ["A", "B", None, "C"], "timestamp": [None, "2024-05-01T09:00:00",
                                                                       "2024-05-01T09:00:00", "NA"]})
    s = load_sightings(pd.concat([rel, extra], ignore_index=True))
    assert len(s) == len(rel) and s.attrs["dropped"] == 4
    out = trajectory_audit(pd.concat([rel, extra], ignore_index=True), p_values=(1, 2), bins=("1h",))
    assert "4 sightings without time, camera or unit ignored" in out["skipped"]
    assert not any("ignored" in m for m in trajectory_audit(rel, p_values=(1, 2), bins=("1h",))["skipped"])
