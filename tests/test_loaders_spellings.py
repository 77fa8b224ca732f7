"""Everyday spellings: level-prefixed representative types, 代表身份/走访方式/志愿服务队伍 headers,
代表联络站接待, total hours converted only when the header says total."""
import json

import sqlalchemy as sa

import loaders
from dashboard.db import schema as S
from loaders.__main__ import main
from test_loaders_diff import town  # noqa: F401 - the registry fixture (three villages)

VIS = ("村（社区）,代表姓名,代表身份,走访日期,走访方式,走访选民人次,意见建议\n"
       "红旗村,王明,县人大代表,2024-03-05,代表联络站接待,12,3\n"
       "红旗村,李华,镇党代表,2024-03-06,入户走访,5,1\n"
       "红旗村,张三,政协委员,2024-03-07,入户走访,5,1\n"
       "红旗村,赵四,全国人大代表,2024-03-08,座谈会,5,1\n"
       "红旗村,钱五,市政协委员,2024-03-09,座谈会,5,1\n"
       "红旗村,孙六,省人大代表,2024-03-10,座谈会,5,1\n")


def test_visits_with_level_prefixed_types_and_everyday_headers(town, db_url, tmp_path, capsys):
    f = tmp_path / "visits.csv"
    f.write_text(VIS, encoding="utf-8")
    assert main(["import", str(f), "--db", db_url, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["inserted"], out["errors"]) == (6, [])
    with town.connect() as c:
        rows = c.execute(sa.select(S.rep_visit.c.rep_name, S.rep_visit.c.rep_type, S.rep_visit.c.rep_level,
                                   S.rep_visit.c.form).order_by(S.rep_visit.c.visited_on)).all()
    assert [tuple(r) for r in rows] == [
        ("王明", "npc", "county", "station"), ("李华", "party", "township", "home"),
        ("张三", "cppcc", None, "home"), ("赵四", "npc", "national", "forum"),
        ("钱五", "cppcc", "city", "forum"), ("孙六", "npc", "province", "forum")]


def test_a_level_column_wins_over_the_prefix_and_unknown_types_are_still_refused(town):
    body = ("村（社区）,代表姓名,代表类型,代表层级,走访日期,走访形式\n"
            "红旗村,王明,县人大代表,市,2024-03-05,入户走访\n"
            "红旗村,李华,县长,,2024-03-06,入户走访\n")
    r = loaders.import_file(town, body.encode(), "v.csv", dry_run=True)
    assert [(e["row"], e["code"], e["value"]) for e in r.errors] == [(3, "bad_enum", "县长")]
    r = loaders.import_file(town, body.replace("红旗村,李华,县长,,2024-03-06,入户走访\n", "").encode(), "v.csv")
    assert r.ok
    with town.connect() as c:
        assert c.execute(sa.select(S.rep_visit.c.rep_level)).scalar_one() == "city"


def test_total_hours_are_shared_out_only_when_the_header_says_total(town):
    total = ("村（社区）,活动日期,志愿服务队伍,活动类型,参与人数,服务总时长\n"
             "红旗村,2024-03-05,巾帼志愿服务队,环境整治,4,10\n"
             "红旗村,2024-03-06,巾帼志愿服务队,环境整治,0,3\n")
    r = loaders.import_file(town, total.encode(), "t.csv")
    assert r.ok and r.inserted == 2, r.errors
    assert "表头写的是服务总时长：人均时长 = 总时长 ÷ 参与人数（保留两位小数）。" in r.notes
    per = total.replace("服务总时长", "服务时长（小时）").replace("巾帼", "党员")
    r2 = loaders.import_file(town, per.encode(), "p.csv")
    assert r2.ok and not any("总时长" in n for n in r2.notes)
    with town.connect() as c:
        got = c.execute(sa.select(S.volunteer_activity.c.team, S.volunteer_activity.c.hours)
                        .order_by(S.volunteer_activity.c.id)).all()
    assert [tuple(g) for g in got] == [("巾帼志愿服务队", 2.5), ("巾帼志愿服务队", 0.0),
                                       ("党员志愿服务队", 10.0), ("党员志愿服务队", 3.0)]


def test_visits_by_level_query_and_chart(town):
    from datetime import date

    from dashboard import charts
    from dashboard.periods import Period
    from dashboard.queries import visits
    assert loaders.import_file(town, VIS.encode(), "visits.csv").inserted == 6
    with town.connect() as c:
        df = visits.by_level(c, Period(date(2024, 1, 1), date(2024, 3, 31), "quarter"))
    assert df[["rep_level", "visits", "voters", "suggestions"]].values.tolist() == [
        ["national", 1, 5, 1], ["province", 1, 5, 1], ["city", 1, 5, 1], ["county", 1, 12, 3],
        ["township", 1, 5, 1], ["unknown", 1, 5, 1]]
    fig = charts.visits_by_level(df, "zh")
    assert list(fig.data[0].labels) == ["全国", "省", "市", "县", "镇", "未注明"]
