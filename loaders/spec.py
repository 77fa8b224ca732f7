"""What each kind of file holds: its fields, their header aliases, types and enumerations.

This table is the single source for header matching, validation, templates and
docs/UPLOAD_TEMPLATES.md (a test checks the document lists every alias).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

KINDS = ("villages", "grids", "disputes", "volunteers", "visits", "suggestions")
LEDGER_KINDS = ("disputes", "volunteers", "visits", "suggestions")
COORD_SYSTEMS = ("wgs84", "gcj02", "bd09")   # of uploaded coordinates (loaders.geo converts)


@dataclass(frozen=True)
class Field:
    name: str                 # column in the database (or a helper such as village/grid/township)
    type: str                 # text | int | float | date | enum | village | grid | code | geometry
    aliases: tuple[str, ...]  # header spellings; the first is the template header
    required: bool = False    # the column must be present (and non-blank)
    max_len: int = 0          # text length limit (0: only the global cell limit)
    enum: str = ""            # enumeration name (ENUMS) for type enum
    default: object = None    # value when the column is absent or the cell blank
    generic: bool = False     # appears in many kinds: does not count when detecting the kind
    template: bool = True     # a column of the template (False: an alternative spelling of another)


VILLAGE_ALIASES = ("村（社区）", "村(社区)", "村名", "村庄", "社区", "所属村", "村（社区）名称",
                   "所属村（社区）", "村委会", "行政村", "village")
GRID_ALIASES = ("所属网格", "网格", "网格名称", "网格编号", "网格号", "grid")
VILLAGE_CODE = ("区划代码", "统计用区划代码", "村代码", "村（社区）代码", "村（社区）区划代码",
                "village_code")
NOTE_ALIASES = ("备注", "说明", "note", "remark")

FIELDS: dict[str, tuple[Field, ...]] = {
    "villages": (
        Field("name", "text", ("村（社区）名称",) + VILLAGE_ALIASES + ("名称", "name"),
              required=True, max_len=100, generic=True),
        Field("code", "code", ("区划代码", "统计用区划代码", "村代码", "行政区划代码", "code"),
              max_len=12),
        Field("kind", "enum", ("类型", "村社类型", "村（社区）类型", "kind", "type"), enum="kind"),
        Field("households", "int", ("户数", "农户数", "总户数", "households"), default=0),
        Field("population", "int", ("人口", "户籍人口", "常住人口", "总人口", "人口数",
                                    "population"), default=0),
        Field("party_members", "int", ("党员数", "党员人数", "party_members", "party members"),
              default=0),
        Field("township", "text", ("所属乡镇", "乡镇", "乡镇（街道）", "街道", "township"),
              max_len=100),
    ),
    "grids": (
        Field("village", "village", VILLAGE_ALIASES, required=True, generic=True),
        Field("village_code", "village_code", VILLAGE_CODE, generic=True),
        Field("name", "text", ("网格名称", "网格", "所属网格", "name", "grid"), required=True,
              max_len=100),
        Field("code", "text", ("网格编号", "网格编码", "网格代码", "网格号", "code"), max_len=32),
        Field("leader", "text", ("网格长", "网格长姓名", "leader"), max_len=50),
        Field("workers", "int", ("网格员人数", "网格员数", "专职网格员人数", "workers"), default=0),
        Field("households", "int", ("户数", "农户数", "总户数", "households"), default=0),
    ),
    "disputes": (
        Field("case_no", "text", ("案件编号", "编号", "纠纷编号", "case_no", "case no"), max_len=64),
        Field("village", "village", VILLAGE_ALIASES, required=True, generic=True),
        Field("village_code", "village_code", VILLAGE_CODE, generic=True),
        Field("grid", "grid", GRID_ALIASES, generic=True),
        Field("category", "text", ("纠纷类型", "类别", "纠纷类别", "矛盾类型", "category"),
              required=True, max_len=50),
        Field("reported_on", "date", ("登记日期", "受理日期", "排查日期", "reported_on",
                                      "date reported"), required=True),
        Field("parties", "int", ("当事人数", "涉及人数", "parties"), default=2),
        Field("status", "enum", ("化解状态", "办理状态", "状态", "status"), required=True,
              enum="status"),
        Field("resolved_on", "date", ("化解日期", "办结日期", "resolved_on", "date resolved")),
        Field("level", "enum", ("化解层级", "化解级别", "层级", "level"), enum="level"),
        Field("mediator", "text", ("调解人", "调解员", "mediator"), max_len=50),
        Field("source", "text", ("来源", "线索来源", "source"), max_len=50),
        Field("note", "text", NOTE_ALIASES, max_len=2000, generic=True),
        Field("lon", "float", ("经度", "lon", "longitude")),
        Field("lat", "float", ("纬度", "lat", "latitude")),
    ),
    "volunteers": (
        Field("activity_no", "text", ("活动编号", "activity_no", "activity no"), max_len=64),
        Field("village", "village", VILLAGE_ALIASES, required=True, generic=True),
        Field("village_code", "village_code", VILLAGE_CODE, generic=True),
        Field("grid", "grid", GRID_ALIASES, generic=True),
        Field("held_on", "date", ("活动日期", "服务日期", "held_on", "date"), required=True),
        Field("team", "text", ("志愿服务队", "志愿队伍", "志愿服务队伍", "服务队", "team"), required=True,
              max_len=100),
        Field("category", "text", ("活动类型", "服务类型", "category"), required=True, max_len=50),
        Field("participants", "int", ("参与人数", "志愿者人数", "participants"), required=True),
        Field("hours", "float", ("服务时长（小时）", "时长（小时）", "活动时长", "人均时长",
                                 "人均服务时长", "hours"), required=True),
        # the activity's hours added up over its volunteers: hours = total / participants
        Field("hours_total", "float", ("服务总时长（小时）", "服务总时长", "总时长（小时）", "总时长",
                                       "累计服务时长", "hours_total"), template=False),
        Field("points", "int", ("积分", "points"), default=0),
        Field("beneficiaries", "int", ("服务对象人数", "受益人数", "服务人次", "beneficiaries")),
        Field("note", "text", NOTE_ALIASES, max_len=2000, generic=True),
    ),
    "visits": (
        Field("record_no", "text", ("记录编号", "record_no", "record no"), max_len=64),
        Field("village", "village", VILLAGE_ALIASES, required=True, generic=True),
        Field("village_code", "village_code", VILLAGE_CODE, generic=True),
        Field("rep_name", "text", ("代表姓名", "姓名", "rep_name", "representative"),
              required=True, max_len=50),
        Field("rep_type", "enum", ("代表类型", "代表类别", "代表身份", "身份", "rep_type"),
              required=True, enum="rep_type"),
        # also read from a level written before the type (县人大代表 → county, npc)
        Field("rep_level", "enum", ("代表层级", "代表级别", "rep_level"), enum="rep_level",
              template=False),
        Field("visited_on", "date", ("走访日期", "日期", "visited_on", "date"), required=True),
        Field("form", "enum", ("走访形式", "走访方式", "方式", "形式", "form"), required=True,
              enum="form"),
        Field("voters", "int", ("走访选民人次", "联系选民人次", "接待选民人次", "选民人次",
                                "voters"), default=0),
        Field("suggestions", "int", ("收集意见建议（条）", "意见建议", "收集意见建议",
                                     "suggestions"), default=0),
        Field("resolved", "int", ("解决问题（个）", "解决问题", "resolved"), default=0),
        Field("referred", "int", ("转办问题（个）", "转办", "转办问题", "referred"), default=0),
        Field("note", "text", NOTE_ALIASES, max_len=2000, generic=True),
    ),
    # 意见建议办理台账: one row per suggestion, followed from collection to the department's reply
    "suggestions": (
        Field("sugg_no", "text", ("建议编号", "意见建议编号", "sugg_no", "suggestion no"), max_len=64),
        Field("village", "village", VILLAGE_ALIASES, required=True, generic=True),
        Field("village_code", "village_code", VILLAGE_CODE, generic=True),
        Field("rep_name", "text", ("代表姓名", "提出代表", "代表", "rep_name", "representative"),
              required=True, max_len=50),
        Field("collected_on", "date", ("收集日期", "提出日期", "收集时间", "collected_on",
                                       "date collected"), required=True),
        Field("category", "text", ("建议类别", "建议类型", "意见建议类别", "问题类别", "类别",
                                   "category"), required=True, max_len=50),
        Field("handling", "enum", ("办理方式", "处理方式", "办理情况", "handling"), required=True,
              enum="handling"),
        Field("department", "text", ("承办单位", "承办部门", "转办单位", "交办单位", "department"),
              max_len=100),
        Field("referred_on", "date", ("转办日期", "交办日期", "转办时间", "referred_on",
                                      "date referred")),
        Field("replied_on", "date", ("答复日期", "办复日期", "回复日期", "答复时间", "replied_on",
                                     "date replied")),
        Field("satisfaction", "enum", ("满意度", "代表满意度", "满意程度", "测评意见", "satisfaction"),
              enum="satisfaction"),
        Field("note", "text", NOTE_ALIASES, max_len=2000, generic=True),
    ),
}

# The record-number field of each ledger (its natural key within a village).
RECORD_NO = {"disputes": "case_no", "volunteers": "activity_no", "visits": "record_no",
             "suggestions": "sugg_no"}
TABLES = {"villages": "village", "grids": "grid", "disputes": "dispute",
          "volunteers": "volunteer_activity", "visits": "rep_visit", "suggestions": "suggestion"}
DATE_FIELD = {"disputes": "reported_on", "volunteers": "held_on", "visits": "visited_on",
              "suggestions": "collected_on"}
# What the upload preview's "missing rows" list shows of a stored row besides its number and date.
LABEL_FIELD = {"disputes": "category", "volunteers": "team", "visits": "rep_name",
               "suggestions": "category"}
# A ledger row without a record number is known by these fields within its village (plus a
# sequence for same-day repeats): what a correction leaves alone, so a corrected copy of the
# file updates the row instead of adding a second one (15 → 16 volunteers is one activity).
NATURAL_KEY = {"volunteers": ("held_on", "team", "category"),
               "visits": ("rep_name", "visited_on", "form"),
               "suggestions": ("rep_name", "collected_on", "category")}
NATURAL_PREFIX = "NK-"
# An update of a record-numbered row that changes one of these is probably another case that
# reuses the number (a Q2 file numbering from 1 again): it needs its own confirmation.
REUSE_FIELDS = {"disputes": ("reported_on", "category"), "volunteers": ("held_on", "category"),
                "visits": ("visited_on", "rep_name"),
                "suggestions": ("collected_on", "rep_name")}

# Dispute categories: a controlled vocabulary (the 矛盾纠纷 types the township reports, as the
# dashboard stores them) -> the spellings clerks write for each. A category that matches none
# is kept as written and listed for the clerk to map (or to file as 其他).
DISPUTE_CATEGORIES: dict[str, tuple[str, ...]] = {
    "邻里纠纷": ("邻里矛盾", "邻里关系", "邻里关系纠纷", "相邻关系纠纷", "相邻纠纷"),
    "婚姻家庭矛盾": ("婚姻家庭", "婚姻家庭纠纷", "婚姻纠纷", "家庭纠纷", "家庭矛盾", "婚恋纠纷",
                     "婚姻矛盾"),
    "土地流转": ("土地流转纠纷", "土地承包", "土地承包纠纷", "承包地纠纷", "土地纠纷",
                 "土地承包经营纠纷"),
    "宅基地纠纷": ("宅基地", "宅基地矛盾", "房屋宅基地纠纷", "宅基地争议"),
    "赡养纠纷": ("赡养", "赡养老人", "赡养矛盾", "赡养老人纠纷", "赡养抚养纠纷"),
    "劳资纠纷": ("劳资", "劳动争议", "劳动纠纷", "欠薪", "拖欠工资", "讨薪", "劳资矛盾"),
    "征地拆迁": ("征地拆迁纠纷", "征地", "拆迁", "拆迁纠纷", "征地纠纷", "征收拆迁"),
    "山林权属": ("山林权属纠纷", "山林纠纷", "林权纠纷", "山林土地纠纷", "林地纠纷"),
    "物业纠纷": ("物业", "物业管理纠纷", "物业矛盾"),
    "其他": ("其他纠纷", "其它", "其它纠纷", "其他矛盾"),
}
OTHER_CATEGORY = "其他"


def category_lookup() -> dict[str, str]:
    out: dict[str, str] = {}
    for name, spellings in DISPUTE_CATEGORIES.items():
        for s in (name, *spellings):
            out.setdefault(norm_header(s), name)
    return out


# Enumerations: stored code -> spellings a clerk may write (the code itself is always accepted).
ENUMS: dict[str, dict[str, tuple[str, ...]]] = {
    "status": {
        "received": ("已受理", "受理", "待化解", "待处理", "新受理", "登记"),
        "in_progress": ("化解中", "办理中", "处理中", "未化解", "正在化解", "调解中", "跟踪中",
                        "未办结"),
        "resolved": ("已化解", "已办结", "办结", "化解", "已解决", "调解成功", "已调解"),
    },
    "level": {
        "grid": ("网格", "网格内", "网格级", "网格化解"),
        "village": ("村级", "村", "村（社区）", "村(社区)", "社区", "村社", "村社级", "社区级"),
        "township": ("乡镇级", "镇级", "乡镇", "乡级", "镇", "乡", "街道", "街道级"),
        "county": ("县级", "县", "县（市、区）", "县(市、区)", "县区级", "区级", "市级"),
    },
    "rep_type": {
        "party": ("党代表", "党代会代表", "中共党代表"),
        "npc": ("人大代表", "人大"),
        "cppcc": ("政协委员", "政协"),
    },
    "form": {
        "home": ("入户走访", "入户", "走访", "上门走访", "上门"),
        "station": ("进站接待", "接待", "联络站接待", "代表联络站", "代表联络站接待", "联络站",
                    "代表之家接待", "代表工作站接待", "进站", "站点接待"),
        "forum": ("座谈", "座谈会", "召开座谈会", "议事会"),
    },
    # the body a representative belongs to: 全国/省/市/县/镇 (written before the type or apart)
    "rep_level": {
        "national": ("全国", "全国级", "国家级"),
        "province": ("省", "省级", "自治区", "直辖市"),
        "city": ("市", "市级", "州", "地级市"),
        "county": ("县", "县级", "区", "县区", "旗", "县（市、区）"),
        "township": ("镇", "乡", "乡镇", "镇级", "乡级", "街道"),
    },
    # how a suggestion was handled: solved on the spot, referred to a department, being handled
    "handling": {
        "on_the_spot": ("当场解决", "当场办结", "现场解决", "当场答复", "当场处理", "即时解决",
                        "已解决", "直接解决", "就地解决"),
        "referred": ("转办", "已转办", "交办", "转交", "转有关部门", "转部门办理", "转交办理",
                     "转相关部门"),
        "in_progress": ("正在办理", "办理中", "正在解决", "在办", "跟踪办理", "待办理", "处理中"),
    },
    # the representative's satisfaction with the answer
    "satisfaction": {
        "satisfied": ("满意", "非常满意", "很满意"),
        "basic": ("基本满意", "比较满意", "较满意"),
        "dissatisfied": ("不满意", "不太满意", "很不满意"),
    },
    "kind": {
        "village": ("村", "行政村", "村委会", "村民委员会"),
        "community": ("社区", "居委会", "社区居委会", "居民委员会"),
    },
}
ENUM_FIELDS = {"status": "status", "level": "level", "rep_type": "rep_type", "form": "form",
               "kind": "kind", "rep_level": "rep_level", "handling": "handling",
               "satisfaction": "satisfaction"}
# An enumeration whose values may carry another's as a prefix: 县人大代表 = 县 + 人大代表.
LEVEL_PREFIXED = {"rep_type": "rep_level"}

YES = ("是", "有", "y", "yes", "true", "1", "√", "✓")
NO = ("否", "无", "n", "no", "false", "0", "×")

# Headers that mark a file of some other kind; a file whose headers match these and not
# ours is named as such ("this looks like a household roster").
FOREIGN = {
    "household_roster": ("户主姓名", "户主", "与户主关系", "身份证号", "身份证号码", "公民身份号码",
                         "民族", "性别", "出生日期", "户号"),
    "party_roster": ("入党时间", "入党日期", "党籍", "转正时间", "党支部"),
    "subsidy": ("低保金额", "补助金额", "救助金额", "保障人数", "银行卡号"),
}

# A row whose first filled cell starts with one of these is a footer (signature, totals).
FOOTER_RE = re.compile(
    r"^\s*(合\s*计|总\s*计|小\s*计|累\s*计|填\s*表\s*人|填\s*报\s*人|审\s*核\s*人|制\s*表\s*人|负\s*责\s*人"
    r"|审\s*批\s*人|联系电话|填表日期|填报日期|制表日期|报送日期|填报单位|单位负责人|注\s*[：:]"
    r"|说明\s*[：:]|备注\s*[：:]|total\b|prepared by|checked by)",
    re.IGNORECASE)


# no \\s or \\d: pandas hands those patterns to Python's re, one row at a time
FOOTER_START = "^[ \t\u3000\u00a0]*[合总小累填审制负联报单注说备TtPpCc]"


def norm_header(text: object) -> str:
    """Normalise a header: full-width to half-width, no spaces, lower case, no '*' marks."""
    s = unicodedata.normalize("NFKC", str(text or ""))
    s = re.sub(r"[\s\u3000*＊:：_\-]+", "", s).lower()
    return s


def strip_units(h: str) -> str:
    """Drop parenthesised parts of a normalised header: 服务时长(小时) -> 服务时长."""
    return re.sub(r"[(\[【〔][^)\]】〕]*[)\]】〕]", "", h)


def fields(kind: str) -> tuple[Field, ...]:
    return FIELDS[kind]


def field(kind: str, name: str) -> Field:
    for f in FIELDS[kind]:
        if f.name == name:
            return f
    raise KeyError(name)


def alias_index(kind: str) -> tuple[dict[str, str], dict[str, str]]:
    """(exact normalised alias -> field, alias without units -> field) for a kind."""
    exact: dict[str, str] = {}
    loose: dict[str, str] = {}
    for f in FIELDS[kind]:
        for a in (*f.aliases, f.name):
            n = norm_header(a)
            exact.setdefault(n, f.name)
            loose.setdefault(strip_units(n) or n, f.name)
    return exact, loose


def enum_lookup(enum: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for code, spellings in ENUMS[enum].items():
        out[norm_header(code)] = code
        for s in spellings:
            out.setdefault(norm_header(s), code)
    return out
