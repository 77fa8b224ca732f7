"""A county of townships through the real intake: --township places files without a 乡镇（街道）
column, names repeat across townships (建设村 in both), each township's figures are exactly
those it has alone."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

import loaders
from dashboard import auth, metrics
from dashboard.db import get_engine, migrate
from dashboard.db import schema as S
from dashboard.periods import Period
from dashboard import uploads

D = Path(__file__).resolve().parent / "data" / "loaders"
YEAR = Period(date(2024, 1, 1), date(2024, 12, 31), "year")
LEDGERS = ("disputes_utf8_bom.csv", "visits.csv", "volunteers_fullwidth.csv")
# the second township: the same three names, its own codes (白云镇, 360121106)
VILLAGES_B = ("村（社区）名称,区划代码,类型,户数,人口,党员数\n"
              "红旗村,360121106201,村,500,1500,40\n建设村,360121106202,村,700,2100,60\n"
              "东湖社区,360121106001,社区,1800,5000,200\n").encode()


def imp(engine, data, name, **kw):
    res = uploads.run_import(engine, loaders.ImportContext(data, name, **kw))
    assert res.errors == [], res.errors
    return res


def load_a(engine, township=None):
    imp(engine, (D / "villages.csv").read_bytes(), "villages.csv", township=township)
    imp(engine, (D / "grids.geojson").read_bytes(), "grids.geojson", township=township)
    for f in LEDGERS:
        imp(engine, (D / f).read_bytes(), f, township=township)


def grids_moved(dx: float) -> bytes:
    """The fixture's grids ``dx`` degrees further east (a second township beside the first)."""
    fc = json.loads((D / "grids.geojson").read_text(encoding="utf-8"))
    for f in fc["features"]:
        f["geometry"]["coordinates"] = [[[x + dx, y] for x, y in ring]
                                        for ring in f["geometry"]["coordinates"]]
    return json.dumps(fc, ensure_ascii=False).encode()


def load_b(engine, beside: bool = False):
    """白云镇; ``beside``: its grids east of 本乡镇's instead of on top of them (for maps)."""
    r = imp(engine, VILLAGES_B, "villages_b.csv", township="白云镇")
    assert (r.inserted, r.township_created) == (3, "白云镇")
    imp(engine, grids_moved(0.05) if beside else (D / "grids.geojson").read_bytes(), "grids.geojson",
        township="白云镇")
    # B's ledgers: A's files with one more dispute, so the townships' figures differ
    data = (D / "disputes_utf8_bom.csv").read_bytes() + \
        "JS-2024-009,建设村,第1网格,邻里纠纷,2024-06-01,2,已办结,2024-06-03,村级,赵六,网格排查,\n".encode()
    imp(engine, data, "disputes_b.csv", township="白云镇")
    imp(engine, (D / "visits.csv").read_bytes(), "visits_b.csv", township="360121106000")


def township_ids(conn, tid):
    return sorted(conn.execute(sa.select(S.village.c.id).where(S.village.c.township_id == tid)).scalars())


def figures(engine, code):
    with engine.connect() as c:
        tid = c.execute(sa.select(S.township.c.id).where(S.township.c.code == code)).scalar_one()
        r = metrics.compute(c, YEAR, township_ids(c, tid))
        town = dict(r["township"])
        by_name = {}
        names = dict(c.execute(sa.select(S.village.c.id, S.village.c.name)).all())
        for vid, vals in r["villages"].items():
            by_name[names[vid]] = dict(vals)
    return town, by_name


def _same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, float) and isinstance(y, float) and x != x and y != y:
            continue  # NaN == NaN
        assert x == y, (k, x, y)


def test_two_townships_each_as_alone(engine, tmp_path):
    load_a(engine)                    # one township: nothing to choose, nothing changes
    load_b(engine)
    with engine.connect() as c:
        tws = c.execute(sa.select(S.township.c.code, S.township.c.name).order_by(S.township.c.code)).all()
        both = c.execute(sa.select(S.village.c.name, S.township.c.code).select_from(
            S.village.join(S.township)).where(S.village.c.name == "建设村")
            .order_by(S.township.c.code)).all()
        n = {t: c.execute(sa.select(sa.func.count()).select_from(S.metadata.tables[t])).scalar_one()
             for t in ("dispute", "rep_visit", "volunteer_activity", "grid")}
    assert tws == [("360121105000", "本乡镇"), ("360121106000", "白云镇")]
    assert both == [("建设村", "360121105000"), ("建设村", "360121106000")]
    assert n == {"dispute": 5 + 6, "rep_visit": 3 + 3, "volunteer_activity": 4, "grid": 12}

    a_alone = get_engine(f"sqlite:///{tmp_path}/a.db")
    migrate(f"sqlite:///{tmp_path}/a.db")
    load_a(a_alone)
    b_alone = get_engine(f"sqlite:///{tmp_path}/b.db")
    migrate(f"sqlite:///{tmp_path}/b.db")
    load_b(b_alone)
    for code, alone in (("360121105000", a_alone), ("360121106000", b_alone)):
        town, villages = figures(engine, code)
        town1, villages1 = figures(alone, code)
        _same(town, town1)
        assert villages.keys() == villages1.keys() == {"红旗村", "建设村", "东湖社区"}
        for name in villages:
            _same(villages[name], villages1[name])
    ta, _ = figures(engine, "360121105000")
    tb, vb = figures(engine, "360121106000")
    assert (ta["disputes_total"], tb["disputes_total"]) == (5, 6)
    assert vb["建设村"]["disputes_total"] == 3


def test_other_kinds_for_an_unknown_township_are_refused(engine):
    load_a(engine)
    res = uploads.run_import(engine, loaders.ImportContext(
        (D / "visits.csv").read_bytes(), "visits.csv", township="白云镇"))
    assert res.refused == "unknown_township"
    assert res.errors[0]["message"] == (
        "库里没有“白云镇”这个乡镇（街道）。已有的乡镇（街道）：本乡镇。"
        "请核对名称；新乡镇须先由县级管理员导入它的村（社区）名册。")


def test_new_township_is_admin_only_and_audited(engine):
    load_a(engine)
    with engine.begin() as c:
        clerk = auth.create_user(c, "clerk1", "a-long-password", "clerk",
                                 village_ids=township_ids(c, 1))
        admin = auth.create_user(c, "admin1", "a-long-password", "admin")
    res = uploads.run_import(engine, loaders.ImportContext(VILLAGES_B, "v.csv", kind="villages",
                                                            township="白云镇"), user=clerk)
    assert res.refused == "forbidden"
    res = uploads.run_import(engine, loaders.ImportContext(VILLAGES_B, "v.csv", township="白云镇"),
                             user=admin)
    assert (res.inserted, res.township_created) == (3, "白云镇")
    with engine.connect() as c:
        rows = auth.audit_rows(c, {"action": "township_add"})
    assert [(r["username"], json.loads(r["detail"])["township"]) for r in rows] == [("admin1", "白云镇")]
    # undoing the registry removes the township it created
    uploads.undo(engine, res.batch_id)
    with engine.connect() as c:
        assert c.execute(sa.select(S.township.c.name)).scalars().all() == ["本乡镇"]


def test_without_township_an_ambiguous_name_is_refused(engine):
    load_a(engine)
    load_b(engine)
    res = loaders.import_file(engine, (D / "visits.csv").read_bytes(), "visits.csv")
    assert res.refused == "" and {e["code"] for e in res.errors} == {"ambiguous_village"}
