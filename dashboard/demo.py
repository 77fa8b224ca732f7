"""The demo township (演示数据): deterministic, modelled on the articles' figures.

27 villages and communities, 157 grids that tile the township (a Voronoi split of
an irregular outline in Jiangxi, WGS-84), and two full calendar years of
disputes, volunteer activities and representative visits with seasonality and
clear differences between villages. The same seed always gives the same rows.
"""
from __future__ import annotations

import hashlib
import json
import math
from datetime import date, datetime, timedelta

import numpy as np
import sqlalchemy as sa
from shapely import geometry as sg
from shapely.ops import voronoi_diagram

from dashboard.db import schema as S
from dashboard.db.engine import bump_version

TOWNSHIP_CODE = "360121105000"
TOWNSHIP_NAME = "青山镇"
CENTER = (115.92, 28.55)  # lon, lat: a rural township south of Nanchang
START = date(2024, 1, 1)
END = date(2025, 12, 31)  # fixed, so the demo is the same every time
N_GRIDS = 157

COMMUNITIES = ["东湖社区", "青山社区", "新街社区", "文昌社区", "滨江社区"]
VILLAGES = ["红旗村", "建设村", "前进村", "永丰村", "和平村", "新华村", "光明村", "胜利村",
            "长岭村", "石桥村", "柳塘村", "枫林村", "桃源村", "杨家村", "李家坪村", "白沙村",
            "马鞍村", "花园村", "荷塘村", "龙泉村", "金盆村", "双溪村"]
# Villages whose figures are clearly worse or better, so rankings and maps show something.
WEAK = {"东湖社区": 0.62, "马鞍村": 0.70, "白沙村": 0.74}
STRONG = {"红旗村": 1.0, "枫林村": 1.0, "桃源村": 1.0, "青山社区": 1.0}

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕")
GIVEN = ["建国", "国强", "秀英", "桂兰", "志强", "海燕", "明", "伟", "芳", "军", "敏", "静", "丽",
         "强", "磊", "洋", "艳", "勇", "杰", "娟", "涛", "超", "霞", "平", "刚", "红梅", "春生",
         "金华", "德胜", "玉兰", "振华", "文清", "小红", "建华", "卫东"]
DISPUTE_CATEGORIES = [("邻里纠纷", 0.26), ("婚姻家庭矛盾", 0.17), ("土地流转", 0.12),
                      ("宅基地纠纷", 0.10), ("赡养纠纷", 0.07), ("劳资纠纷", 0.08),
                      ("征地拆迁", 0.05), ("山林权属", 0.06), ("物业纠纷", 0.05),
                      ("其他", 0.04)]
SOURCES = [("网格排查", 0.48), ("群众来访", 0.22), ("村民说事会", 0.14), ("12345热线", 0.09),
           ("上级交办", 0.07)]
TEAMS = ["党员先锋队", "巾帼志愿队", "青年志愿队", "乡贤调解队", "银龄志愿队"]
ACTIVITY_TYPES = [("环保清洁", 0.24), ("助老助残", 0.2), ("文明实践", 0.16), ("治安巡防", 0.14),
                  ("普法宣传", 0.12), ("扶贫帮困", 0.14)]
# Monthly weights: disputes peak around the Spring Festival and the farming seasons;
# volunteering around 学雷锋 (March), the summer and year-end care for the elderly.
DISPUTE_SEASON = [1.5, 1.35, 1.15, 1.1, 0.9, 0.85, 0.8, 0.85, 1.0, 1.05, 0.9, 1.05]
VOLUNTEER_SEASON = [0.9, 0.7, 1.6, 1.1, 1.0, 0.9, 1.1, 1.0, 1.0, 1.1, 0.9, 1.2]


def _name(rng) -> str:
    return SURNAMES[rng.integers(len(SURNAMES))] + GIVEN[rng.integers(len(GIVEN))]


def _pick(rng, weighted):
    names = [n for n, _ in weighted]
    w = np.array([p for _, p in weighted], dtype=float)
    return names[rng.choice(len(names), p=w / w.sum())]


def _round_geom(g, nd: int = 6):
    return json.loads(json.dumps(sg.mapping(g)), parse_float=lambda x: round(float(x), nd))


def outline(rng) -> sg.Polygon:
    """An irregular township outline, about 16 km x 13 km."""
    n = 48
    angles = np.linspace(0, 2 * math.pi, n, endpoint=False)
    base = 1 + 0.18 * np.sin(3 * angles + rng.uniform(0, 6)) + 0.1 * np.sin(5 * angles + rng.uniform(0, 6))
    r = base * (1 + rng.uniform(-0.05, 0.05, n))
    kx = 0.08 / math.cos(math.radians(CENTER[1]))  # ~8 km half-width in degrees of longitude
    ky = 0.058
    pts = [(CENTER[0] + kx * r[i] * math.cos(a), CENTER[1] + ky * r[i] * math.sin(a))
           for i, a in enumerate(angles)]
    return sg.Polygon(pts).buffer(0)


def _points_in(poly, n: int, rng, min_sep_frac: float = 0.5) -> list[sg.Point]:
    """n well-spread points inside poly (dart throwing with a shrinking separation)."""
    minx, miny, maxx, maxy = poly.bounds
    sep = math.sqrt(poly.area / max(n, 1)) * min_sep_frac
    pts: list[sg.Point] = []
    tries = 0
    inner = poly.buffer(-sep * 0.3) if poly.buffer(-sep * 0.3).area > poly.area * 0.3 else poly
    while len(pts) < n:
        p = sg.Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        tries += 1
        if tries % 2000 == 0:
            sep *= 0.85
        if not inner.contains(p):
            continue
        if all(p.distance(q) >= sep for q in pts):
            pts.append(p)
    return pts


def split(poly, pts: list[sg.Point]) -> list[sg.Polygon]:
    """Voronoi cells of pts clipped to poly, in the order of pts."""
    cells = voronoi_diagram(sg.MultiPoint(pts), envelope=poly.buffer(poly.length))
    out = []
    for p in pts:
        cell = next(c for c in cells.geoms if c.contains(p))
        piece = cell.intersection(poly)
        if piece.geom_type != "Polygon":  # keep the part that holds the seed point
            piece = max((g for g in getattr(piece, "geoms", [piece]) if g.geom_type == "Polygon"),
                        key=lambda g: g.area)
        out.append(piece)
    return out


def _allocate(weights: list[float], total: int) -> list[int]:
    raw = np.array(weights) / sum(weights) * total
    base = np.maximum(np.floor(raw).astype(int), 2)
    while base.sum() < total:
        base[np.argmax(raw - base)] += 1
    while base.sum() > total:
        base[np.argmax(base - raw)] -= 1
    return base.tolist()


def build(seed: int = 20240101) -> dict[str, list[dict]]:
    """All rows of the demo township as plain dicts (no database needed)."""
    rng = np.random.default_rng(seed)
    town = outline(rng)
    names = COMMUNITIES + VILLAGES
    kinds = ["community"] * len(COMMUNITIES) + ["village"] * len(VILLAGES)
    # communities sit near the township seat (centre); villages around them
    seeds = _points_in(town, len(names), rng, 0.75)
    d = [(p.x - CENTER[0]) ** 2 + (p.y - CENTER[1]) ** 2 for p in seeds]
    order = np.argsort(d)
    seeds = [seeds[i] for i in order]
    village_polys = split(town, seeds)

    households = [int(rng.integers(1800, 3200)) if k == "community" else int(rng.integers(380, 1300))
                  for k in kinds]
    # ~300 households per community grid; a village grid follows its villager groups
    grid_weights = [h / 300 if k == "community" else h / 160 for h, k in zip(households, kinds)]
    grid_counts = _allocate(grid_weights, N_GRIDS)

    villages, grids = [], []
    for i, (name, kind) in enumerate(zip(names, kinds)):
        vcode = TOWNSHIP_CODE[:9] + (f"{i + 1:03d}" if kind == "community" else f"{200 + i:03d}")
        pop = int(households[i] * rng.uniform(2.6, 3.3))
        vpoly = village_polys[i]
        villages.append(dict(name=name, code=vcode, kind=kind, households=households[i],
                             population=pop, party_members=int(pop * rng.uniform(0.035, 0.055)),
                             geometry=vpoly))
        gpts = _points_in(vpoly, grid_counts[i], rng, 0.6)
        gpolys = split(vpoly, gpts)
        hh = _allocate([rng.uniform(0.7, 1.3) for _ in gpolys], households[i])
        for j, gp in enumerate(gpolys):
            grids.append(dict(village=name, code=f"{vcode}{j + 1:02d}", name=f"第{j + 1}网格",
                              leader=_name(rng), workers=int(1 + (rng.random() < 0.15)),
                              households=hh[j], geometry=gp))

    quality = {n: WEAK.get(n, STRONG.get(n, float(rng.uniform(0.82, 0.97)))) for n in names}
    grids_of = {n: [g for g in grids if g["village"] == n] for n in names}
    days = [(START + timedelta(days=k)) for k in range((END - START).days + 1)]

    disputes = []
    for n, v in zip(names, villages):
        q = quality[n]
        rate_per_year = v["households"] / 1000 * rng.uniform(8, 13) * (1.35 if q < 0.8 else 1.0)
        prefix = "DS" + v["code"][-3:]
        k = 0
        for day in days:
            lam = rate_per_year / 365 * DISPUTE_SEASON[day.month - 1]
            for _ in range(rng.poisson(lam)):
                k += 1
                g = grids_of[n][rng.integers(len(grids_of[n]))]
                age = (END - day).days
                p_res = q * min(1.0, 0.25 + age / 40)
                resolved = rng.random() < p_res
                row = dict(case_no=f"{prefix}-{day.year}-{k:04d}", village=n, grid=g["code"],
                           category=_pick(rng, DISPUTE_CATEGORIES), reported_on=day,
                           parties=int(2 + rng.poisson(0.8)), source=_pick(rng, SOURCES),
                           mediator=_name(rng), status="received", resolved_on=None, level=None,
                           lon=None, lat=None)
                if resolved:
                    mean = 4 + (1 - q) * 60
                    dt = int(min(rng.exponential(mean), age))
                    lv = rng.random()
                    p_grid = 0.35 + 0.35 * q
                    p_vill = p_grid + 0.6 * (1 - p_grid)
                    level = "grid" if lv < p_grid else "village" if lv < p_vill else \
                        "township" if lv < p_vill + 0.75 * (1 - p_vill) else "county"
                    row.update(status="resolved", resolved_on=day + timedelta(days=dt), level=level)
                elif rng.random() < 0.6:
                    row["status"] = "in_progress"
                if rng.random() < 0.7:
                    c = g["geometry"].representative_point()
                    minx, miny, maxx, maxy = g["geometry"].bounds
                    for _ in range(20):
                        p = sg.Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
                        if g["geometry"].contains(p):
                            c = p
                            break
                    row.update(lon=round(c.x, 6), lat=round(c.y, 6))
                disputes.append(row)

    activities = []
    for n, v in zip(names, villages):
        q = quality[n]
        teams = [n + t for t in rng.choice(TEAMS, size=int(rng.integers(1, 4)), replace=False)]
        per_year = 14 + v["households"] / 100 * 1.2 * (q ** 3) * rng.uniform(0.8, 1.2)
        k = 0
        for day in days:
            lam = per_year / 365 * VOLUNTEER_SEASON[day.month - 1] * (1.5 if day.weekday() >= 5 else 0.8)
            for _ in range(rng.poisson(lam)):
                k += 1
                part = int(rng.integers(6, 36))
                hours = float(rng.choice([1.0, 1.5, 2.0, 2.5, 3.0, 4.0]))
                g = grids_of[n][rng.integers(len(grids_of[n]))]
                activities.append(dict(
                    activity_no=f"ZY{v['code'][-3:]}-{day.year}-{k:04d}", village=n, grid=g["code"],
                    held_on=day, team=teams[rng.integers(len(teams))],
                    category=_pick(rng, ACTIVITY_TYPES), participants=part, hours=hours,
                    points=int(round(part * hours)),
                    beneficiaries=int(rng.integers(10, 120)) if rng.random() < 0.8 else None))

    reps = []
    for rtype, count in (("party", 14), ("npc", 18), ("cppcc", 7)):
        for _ in range(count):
            home = names[rng.integers(len(names))]
            reps.append((_name(rng), rtype, home))
    visits = []
    k = 0
    for rep_name, rtype, home in reps:
        per_year = {"party": 9, "npc": 11, "cppcc": 6}[rtype]
        for day in days:
            if rng.random() < per_year / 365:
                n = home if rng.random() < 0.7 else names[rng.integers(len(names))]
                q = quality[n]
                form = _pick(rng, [("home", 0.5), ("station", 0.35), ("forum", 0.15)])
                voters = int(rng.integers(3, 15)) if form == "home" else int(rng.integers(8, 45))
                sugg = int(rng.binomial(max(voters // 3, 1), 0.6))
                res = int(rng.binomial(sugg, 0.55 + 0.35 * q)) if sugg else 0
                ref = int(rng.binomial(sugg - res, 0.6)) if sugg - res else 0
                k += 1
                visits.append(dict(record_no=f"ZF-{day.year}-{k:04d}", village=n, rep_name=rep_name,
                                   rep_type=rtype, visited_on=day, form=form, voters=voters,
                                   suggestions=sugg, resolved=res, referred=ref))

    return dict(township=[dict(code=TOWNSHIP_CODE, name=TOWNSHIP_NAME, geometry=town)],
                villages=villages, grids=grids, disputes=disputes,
                volunteer_activities=activities, representative_visits=visits,
                suggestions=suggestions(visits, quality, seed))


# 意见建议: what representatives hear, and who answers a referral (承办单位) for each kind.
SUGGESTION_CATEGORIES = [("道路交通", 0.2, ("镇交通管理站", "县交通运输局")),
                         ("农田水利", 0.16, ("镇农业农村服务中心", "县水利局")),
                         ("环境卫生", 0.15, ("镇生态环境办", "镇村镇建设办")),
                         ("教育医疗", 0.1, ("镇卫生院", "镇中心学校")),
                         ("社会保障", 0.12, ("镇社会事务办", "县医保局")),
                         ("产业发展", 0.09, ("镇经济发展办",)),
                         ("社会治理", 0.1, ("镇综治中心", "镇派出所")),
                         ("文化体育", 0.05, ("镇综合文化站",)),
                         ("其他", 0.03, ("镇党政办",))]


def suggestions(visits: list[dict], quality: dict, seed: int) -> list[dict]:
    """The suggestion ledger behind the visit records: each visit's suggestions one row each,
    its resolved ones solved on the spot, its referred ones referred to a department (a reply
    after about two weeks, slower in the weaker villages; a few never answered; none after the
    demo's last day), the rest being handled. Its own random stream, so the other ledgers stay
    as they were."""
    rng = np.random.default_rng(seed + 16)
    cats = [(c, p) for c, p, _ in SUGGESTION_CATEGORIES]
    depts = {c: d for c, _, d in SUGGESTION_CATEGORIES}
    out = []
    k = 0
    for v in visits:
        q = quality[v["village"]]
        how = (["on_the_spot"] * v["resolved"] + ["referred"] * v["referred"]
               + ["in_progress"] * (v["suggestions"] - v["resolved"] - v["referred"]))
        for h in how:
            k += 1
            cat = _pick(rng, cats)
            row = dict(sugg_no=f"JY-{v['visited_on'].year}-{k:04d}", village=v["village"],
                       rep_name=v["rep_name"], collected_on=v["visited_on"], category=cat,
                       handling=h, department=None, referred_on=None, replied_on=None,
                       satisfaction=None, note=None)
            if h == "referred":
                ref = v["visited_on"] + timedelta(days=int(rng.integers(0, 6)))
                d = depts[cat]
                row.update(department=d[rng.integers(len(d))], referred_on=min(ref, END))
                if rng.random() > 0.02 + 0.1 * (1 - q):
                    rep = row["referred_on"] + timedelta(days=int(3 + rng.gamma(2.0, 5 + 25 * (1 - q))))
                    if rep <= END:
                        u = rng.random()
                        sat = "satisfied" if u < 0.45 + 0.3 * q else \
                            "basic" if u < 0.85 + 0.1 * q else "dissatisfied"
                        row.update(replied_on=rep, satisfaction=sat)
            out.append(row)
    return out


# Zero reports (零报告): every village files one for each month a ledger of it has no rows,
# except these reports of the last month, left missing so the 报送情况 board has something to
# chase (红旗村's is the demo clerk's own). The last month's zero reports are batches of their
# own, filed in the first days of the next month (a few after the deadline: late); the older
# ones are part of the seed (their filing time unknown).
DEMO_MISSING = {("红旗村", "disputes"), ("建设村", "disputes"), ("胜利村", "disputes"),
                ("马鞍村", "visits"), ("石桥村", "volunteers")}
# where build() keeps each ledger kind's rows (a kind the demo has no rows of gets zero reports)
DEMO_ROWS = {"disputes": "disputes", "volunteers": "volunteer_activities",
             "visits": "representative_visits"}


def zero_reports(data: dict, seed: int = 5) -> list[dict]:
    """The demo's zero reports: {village, kind, month, filed_at (None: part of the seed)}.
    Its own generator: the ledger rows are the same with or without them."""
    rng = np.random.default_rng(seed)
    last = f"{END.year:04d}-{END.month:02d}"
    months = [f"{y:04d}-{m:02d}" for y in range(START.year, END.year + 1) for m in range(1, 13)
              if f"{START.year:04d}-{START.month:02d}" <= f"{y:04d}-{m:02d}" <= last]
    from loaders import spec
    out = []
    for kind in spec.LEDGER_KINDS:   # every ledger kind of the registry, in its order
        col = spec.DATE_FIELD[kind]
        have = {(r["village"], f"{r[col]:%Y-%m}") for r in data.get(DEMO_ROWS.get(kind, kind), ())
                if r.get(col) is not None}
        for v in data["villages"]:
            for m in months:
                if (v["name"], m) in have or (m == last and (v["name"], kind) in DEMO_MISSING):
                    continue
                filed = None
                if m == last:  # 1st-5th of the next month, one in four later (up to the 9th)
                    day = int(rng.integers(6, 10)) if rng.random() < 0.25 else int(rng.integers(1, 6))
                    filed = datetime(END.year + (END.month == 12), END.month % 12 + 1, day,
                                     int(rng.integers(8, 18)), int(rng.integers(0, 60)))
                out.append(dict(village=v["name"], kind=kind, month=m, filed_at=filed))
    return out


def _write_zero_reports(conn, data: dict, vid: dict, bid: int, username: str) -> None:
    rows = zero_reports(data)
    conn.execute(sa.insert(S.zero_report), [
        dict(village_id=vid[z["village"]], kind=z["kind"], month=z["month"], batch_id=bid)
        for z in rows if z["filed_at"] is None])
    for z in sorted((z for z in rows if z["filed_at"] is not None), key=lambda z: z["filed_at"]):
        zb = conn.execute(sa.insert(S.import_batch).values(
            kind=z["kind"], file_name=f"零报告 {z['month']}", village_id=vid[z["village"]],
            sha256=hashlib.sha256(f"zero|{z['kind']}|{vid[z['village']]}|{z['month']}".encode()).hexdigest(),
            username=username, created_at=z["filed_at"]).returning(S.import_batch.c.id)).scalar_one()
        zid = conn.execute(sa.insert(S.zero_report).values(
            village_id=vid[z["village"]], kind=z["kind"], month=z["month"], batch_id=zb)
            .returning(S.zero_report.c.id)).scalar_one()
        conn.execute(sa.insert(S.batch_change).values(batch_id=zb, table_name="zero_report", row_id=zid))


def _bbox(g) -> dict:
    minx, miny, maxx, maxy = g.bounds
    return dict(minx=minx, miny=miny, maxx=maxx, maxy=maxy)


def write(conn, data: dict, username: str = "demo") -> int:
    """Write demo rows in one transaction (the caller's); returns the batch id."""
    digest = hashlib.sha256(json.dumps(
        {"disputes": len(data["disputes"]), "seed": "demo"}, sort_keys=True).encode()).hexdigest()
    t = data["township"][0]
    tid = conn.execute(sa.insert(S.township).values(
        code=t["code"], name=t["name"], is_demo=True,
        geometry=json.dumps(_round_geom(t["geometry"]))).returning(S.township.c.id)).scalar_one()
    n_rows = sum(len(data.get(k, ())) for k in ("villages", "grids", "disputes",
                                                "volunteer_activities", "representative_visits",
                                                "suggestions"))
    bid = conn.execute(sa.insert(S.import_batch).values(
        kind="demo", file_name="demo", sha256=digest, username=username,
        created_at=datetime.now(), rows_read=n_rows, inserted=n_rows).returning(S.import_batch.c.id)
    ).scalar_one()
    conn.execute(sa.insert(S.village), [
        dict(township_id=tid, name=v["name"], code=v["code"], kind=v["kind"],
             households=v["households"], population=v["population"],
             party_members=v["party_members"], geometry=json.dumps(_round_geom(v["geometry"])),
             batch_id=bid, **_bbox(v["geometry"])) for v in data["villages"]])
    vid = dict(conn.execute(sa.select(S.village.c.name, S.village.c.id)
                            .where(S.village.c.township_id == tid)).all())
    conn.execute(sa.insert(S.grid), [
        dict(village_id=vid[g["village"]], code=g["code"], name=g["name"], leader=g["leader"],
             workers=g["workers"], households=g["households"],
             geometry=json.dumps(_round_geom(g["geometry"])), batch_id=bid, **_bbox(g["geometry"]))
        for g in data["grids"]])
    gid = dict(conn.execute(sa.select(S.grid.c.code, S.grid.c.id)).all())
    conn.execute(sa.insert(S.dispute), [
        {**{k: v for k, v in d.items() if k not in ("village", "grid")},
         "village_id": vid[d["village"]], "grid_id": gid[d["grid"]], "batch_id": bid}
        for d in data["disputes"]])
    conn.execute(sa.insert(S.volunteer_activity), [
        {**{k: v for k, v in a.items() if k not in ("village", "grid")},
         "village_id": vid[a["village"]], "grid_id": gid[a["grid"]], "batch_id": bid}
        for a in data["volunteer_activities"]])
    conn.execute(sa.insert(S.rep_visit), [
        {**{k: v for k, v in r.items() if k != "village"}, "village_id": vid[r["village"]],
         "batch_id": bid} for r in data["representative_visits"]])
    if data.get("suggestions"):
        conn.execute(sa.insert(S.suggestion), [
            {**{k: v for k, v in r.items() if k != "village"}, "village_id": vid[r["village"]],
             "batch_id": bid} for r in data["suggestions"]])
    _write_zero_reports(conn, data, vid, bid, username)
    from dashboard import aggregates
    from dashboard.demo_users import seed_demo_users
    aggregates.refresh(conn)
    seed_demo_users(conn)  # one account per role, shown on the login page in demo mode only
    bump_version(conn)
    return bid


def is_empty(conn) -> bool:
    return conn.execute(sa.select(sa.func.count()).select_from(S.village)).scalar_one() == 0


def seed_if_empty(engine, seed: int = 20240101) -> bool:
    """Seed the demo township into an empty database; returns True when it did."""
    from dashboard.db.engine import write_txn
    with write_txn(engine) as conn:
        if not is_empty(conn):
            return False
        write(conn, build(seed))
    return True
