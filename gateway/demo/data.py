"""Deterministic synthetic data for the demo departmental databases.

Everything is generated, nothing is copied (DESIGN §9): resident IDs with real region codes, birth dates
and MOD 11-2 check characters; unified social credit codes with GB 11714 organization-code check
characters and MOD 31 check characters; mobile numbers; Chinese names (Faker ``zh_CN``) and addresses
built from real districts. One seed gives the same rows on every run and in every database engine.

The data is dated relative to ``REFERENCE_DATE`` (the tests' fixed clock, 2026-11-22), so that the
special cases stay special: minors are under 18 on that day, "past the disclosure period" means older
than the catalog's period on that day, repaired and removed records were repaired or removed before it.
The well-known subjects are listed in the returned ``DemoManifest``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from faker import Faker
from sqlalchemy import Engine, create_engine, inspect
from sqlalchemy.exc import SQLAlchemyError

from gateway.demo.schema import COURT, DEMO_DATABASES, MARKET, TAX, demo_metadata
from gateway.domain.identifiers import (
    USCC_ALPHABET,
    IdType,
    SubjectKind,
    resident_id_check_char,
    uscc_check_char,
)
from gateway.errors import ConfigurationError

REFERENCE_DATE = date(2026, 11, 22)
DEFAULT_SEED = 2020
_LAST_DAY = REFERENCE_DATE - timedelta(days=1)  # every generated date lies before the reference date

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Region:
    """A real county-level division: GB/T 2260 code and names."""

    code: str
    province: str
    city: str
    district: str
    abbreviation: str  # the province's one-character abbreviation, used in court case numbers

    @property
    def locality(self) -> str:
        """City and district, as in an authority's name (``杭州市西湖区``, ``北京市朝阳区``)."""
        return f"{self.city}{self.district}"

    @property
    def full(self) -> str:
        """Province, city and district, as at the start of an address (municipalities said once)."""
        return self.locality if self.province == self.city else f"{self.province}{self.locality}"


REGIONS: tuple[Region, ...] = (
    Region("330102", "浙江省", "杭州市", "上城区", "浙"),
    Region("330106", "浙江省", "杭州市", "西湖区", "浙"),
    Region("330108", "浙江省", "杭州市", "滨江区", "浙"),
    Region("330110", "浙江省", "杭州市", "余杭区", "浙"),
    Region("330203", "浙江省", "宁波市", "海曙区", "浙"),
    Region("330302", "浙江省", "温州市", "鹿城区", "浙"),
    Region("330402", "浙江省", "嘉兴市", "南湖区", "浙"),
    Region("110101", "北京市", "北京市", "东城区", "京"),
    Region("110105", "北京市", "北京市", "朝阳区", "京"),
    Region("110108", "北京市", "北京市", "海淀区", "京"),
    Region("310101", "上海市", "上海市", "黄浦区", "沪"),
    Region("310104", "上海市", "上海市", "徐汇区", "沪"),
    Region("310115", "上海市", "上海市", "浦东新区", "沪"),
    Region("320102", "江苏省", "南京市", "玄武区", "苏"),
    Region("320505", "江苏省", "苏州市", "虎丘区", "苏"),
    Region("440106", "广东省", "广州市", "天河区", "粤"),
    Region("440304", "广东省", "深圳市", "福田区", "粤"),
    Region("440305", "广东省", "深圳市", "南山区", "粤"),
    Region("510107", "四川省", "成都市", "武侯区", "川"),
    Region("420106", "湖北省", "武汉市", "武昌区", "鄂"),
    Region("610113", "陕西省", "西安市", "雁塔区", "陕"),
    Region("370102", "山东省", "济南市", "历下区", "鲁"),
    Region("500103", "重庆市", "重庆市", "渝中区", "渝"),
    Region("350102", "福建省", "福州市", "鼓楼区", "闽"),
    Region("430104", "湖南省", "长沙市", "岳麓区", "湘"),
)
_ZHEJIANG = tuple(r for r in REGIONS if r.code.startswith("33"))

_ROADS = (
    "解放路", "人民路", "中山路", "建设路", "文三路", "天目山路", "延安路", "学院路", "长江路", "黄河路",
    "和平路", "新华路", "朝阳路", "光明路", "青年路", "胜利路", "东风路", "南京路", "滨江大道", "科技路",
    "创新大道", "文化路", "民生路", "江南大道", "环城北路",
)  # fmt: skip
_MOBILE_PREFIXES = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155",
    "156", "157", "158", "159", "166", "173", "177", "180", "181", "182", "183", "186", "187", "188",
    "189", "191", "198", "199",
)  # fmt: skip
_INDUSTRIES = (
    "科技",
    "贸易",
    "餐饮管理",
    "建筑工程",
    "物流",
    "食品",
    "电子商务",
    "医药",
    "文化传媒",
    "机械制造",
)
_COMPANY_FORMS = ("有限公司", "有限公司", "有限责任公司", "股份有限公司")
_SHOP_KINDS = (
    "便利店",
    "小吃店",
    "面馆",
    "五金店",
    "服装店",
    "水果店",
    "理发店",
    "汽车修理部",
    "药店",
    "茶叶店",
)
_STATUSES = ("存续", "存续", "存续", "存续", "存续", "在业", "在业", "吊销", "注销")

_MARKET_VIOLATIONS = (
    ("销售不符合食品安全标准的食品", "《中华人民共和国食品安全法》第一百二十四条"),
    ("未按规定报送年度报告", "《企业信息公示暂行条例》第八条"),
    ("发布虚假广告", "《中华人民共和国广告法》第五十五条"),
    ("销售侵犯注册商标专用权的商品", "《中华人民共和国商标法》第六十条"),
    ("未取得许可从事食品经营活动", "《中华人民共和国食品安全法》第一百二十二条"),
    ("使用未经检验的特种设备", "《中华人民共和国特种设备安全法》第八十四条"),
    ("利用虚假的价格手段诱骗消费者交易", "《中华人民共和国价格法》第四十条"),
    ("使用未经检定的计量器具", "《中华人民共和国计量法》第二十六条"),
)
_PENALTIES = (
    ("警告", False),
    ("罚款", True),
    ("警告；罚款", True),
    ("没收违法所得；罚款", True),
    ("责令停产停业；罚款", True),
)
_PENALTY_NOTES = (
    "当事人已于{date}缴清罚款",
    "已责令当事人立即改正违法行为",
    "当事人在法定期限内未申请行政复议",
    "当事人对违法事实无异议",
)
_TAX_MEANS = ("虚开增值税专用发票", "隐匿销售收入", "虚列成本费用", "进行虚假纳税申报", "骗取出口退税")
_RESTRICTIONS = (
    "乘坐交通工具时选择飞机、列车软卧、轮船二等以上舱位",
    "在星级以上宾馆、酒店、夜总会、高尔夫球场等场所进行高消费",
    "购买不动产或者新建、扩建、高档装修房屋",
    "租赁高档写字楼、宾馆、公寓等场所办公",
    "旅游、度假",
    "子女就读高收费私立学校",
)
_DEBT_KINDS = ("借款本金", "货款", "工程款", "租金", "劳动报酬", "损害赔偿金")


@dataclass(frozen=True, slots=True)
class DemoSubject:
    """A well-known demo subject: how to look it up and what is special about it."""

    id_type: IdType
    value: str
    kind: SubjectKind
    name: str
    description: str


@dataclass(frozen=True, slots=True)
class DemoManifest:
    """The well-known subjects of a generated data set (fixed by the seed) and the row counts.

    Each subject is special in exactly one way, so tests can rely on what a lookup returns; the
    descriptions say how many rows each has and where.
    """

    seed: int
    reference_date: date
    row_counts: Mapping[str, int]  # "<database>.<table>" -> rows
    legal_person: DemoSubject
    individual_business: DemoSubject
    business_operator: DemoSubject
    natural_person_debtor: DemoSubject
    minor: DemoSubject
    almost_adult: DemoSubject
    just_adult: DemoSubject
    repaired: DemoSubject
    removed: DemoSubject
    past_disclosure: DemoSubject
    force_majeure: DemoSubject
    free_text_identifiers: DemoSubject
    minor_at_conduct: DemoSubject
    unintentional: DemoSubject
    unaccepted_basis: DemoSubject
    embedded_resident_id: str  # a valid resident ID inside free_text_identifiers' penalty notes
    embedded_phone: str  # a mobile number inside the same notes
    embedded_bad_resident_id: str  # an ID-shaped typo (wrong check character) inside the same notes

    def subjects(self) -> dict[str, DemoSubject]:
        """Every well-known subject by its attribute name, in declaration order."""
        return {
            name: value
            for name in self.__dataclass_fields__
            if isinstance(value := getattr(self, name), DemoSubject)
        }


@dataclass(frozen=True, slots=True)
class DemoDataset:
    """Generated rows (database -> table -> rows, in insertion order) and their manifest."""

    rows: Mapping[str, Mapping[str, list[Row]]]
    manifest: DemoManifest


@dataclass(frozen=True, slots=True)
class _Person:
    name: str
    resident_id: str
    born: date
    phone: str
    address: str
    region: Region


@dataclass(frozen=True, slots=True)
class _Enterprise:
    uscc: str
    name: str
    kind: SubjectKind
    rep: _Person
    address: str
    phone: str
    established_on: date
    status: str
    region: Region


@dataclass
class _Tables:
    enterprises: list[Row] = field(default_factory=list)
    admin_penalties: list[Row] = field(default_factory=list)
    dishonest_debtors: list[Row] = field(default_factory=list)
    consumption_restrictions: list[Row] = field(default_factory=list)
    credit_ratings: list[Row] = field(default_factory=list)
    major_violations: list[Row] = field(default_factory=list)


def _money(value: int | Decimal) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def _org_code_check_char(body: str) -> str:
    """GB 11714-1997 check character of an 8-character organization code body."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body, weights, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


class _Generator:
    """Draws every value from one seeded ``random.Random`` and one seeded Faker, in a fixed order."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(seed)
        self.ids: set[str] = set()
        self.names: set[str] = set()
        self.t = _Tables()
        self._seq: Iterator[int] = iter(range(1, 1_000_000))
        self._row_id = {name: iter(range(1, 1_000_000)) for name in vars(self.t)}

    # --- primitives ---

    def day(self, start: date, end: date) -> date:
        return start + timedelta(days=self.rng.randrange((end - start).days + 1))

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def next_id(self, table: str) -> int:
        return next(self._row_id[table])

    def region(self, zhejiang_bias: float = 0.5) -> Region:
        return self.rng.choice(_ZHEJIANG if self.chance(zhejiang_bias) else REGIONS)

    def address(self, region: Region) -> str:
        road = self.rng.choice(_ROADS)
        number = self.rng.randrange(1, 999)
        if self.chance(0.6):
            return (
                f"{region.full}{road}{number}号{self.rng.randrange(1, 30)}幢{self.rng.randrange(101, 2500)}室"
            )
        return f"{region.full}{road}{number}号"

    def mobile(self) -> str:
        return self.rng.choice(_MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"

    def resident_id(self, region: Region, born: date, male: bool) -> str:
        while True:
            sequence = self.rng.randrange(0, 999)
            sequence += (sequence % 2) != male  # odd for men, even for women
            first17 = f"{region.code}{born:%Y%m%d}{sequence % 1000:03d}"
            value = first17 + resident_id_check_char(first17)
            if value not in self.ids:
                self.ids.add(value)
                return value

    def uscc(self, region: Region, kind: SubjectKind) -> str:
        category = "92" if kind is SubjectKind.INDIVIDUAL_BUSINESS else "91"
        letters = [c for c in USCC_ALPHABET if c.isalpha()]
        while True:
            if self.chance(0.7):  # codes assigned since 2015 ("MA" + 6 characters)
                body = "MA" + "".join(
                    self.rng.choice(USCC_ALPHABET[:10] + "".join(letters)) for _ in range(6)
                )
            else:  # older organization codes: digits only
                body = "".join(self.rng.choice("0123456789") for _ in range(8))
            first17 = f"{category}{region.code}{body}{_org_code_check_char(body)}"
            value = first17 + uscc_check_char(first17)
            if value not in self.ids:
                self.ids.add(value)
                return value

    def bad_check_char(self, resident_id: str) -> str:
        """The same ID with a wrong check character (a typo that is still personal data)."""
        wrong = [c for c in "0123456789X" if c != resident_id[17]]
        return resident_id[:17] + self.rng.choice(wrong)

    # --- subjects ---

    def person(self, born: date | None = None, region: Region | None = None) -> _Person:
        region = region or self.region(0.4)
        born = born or self.day(date(1952, 1, 1), date(2000, 12, 31))
        male = self.chance(0.55)
        name = self.fake.name_male() if male else self.fake.name_female()
        return _Person(
            name=name,
            resident_id=self.resident_id(region, born, male),
            born=born,
            phone=self.mobile(),
            address=self.address(region),
            region=region,
        )

    def enterprise(self, kind: SubjectKind, rep: _Person, status: str | None = None) -> _Enterprise:
        region = self.region(0.6)
        while True:
            word = self.fake.company_prefix()
            if kind is SubjectKind.INDIVIDUAL_BUSINESS:
                name = f"{region.locality}{word}{self.rng.choice(_SHOP_KINDS)}"
                founded = self.day(date(2006, 1, 1), date(2025, 6, 30))
            else:
                city = region.city.removesuffix("市")
                name = f"{city}{word}{self.rng.choice(_INDUSTRIES)}{self.rng.choice(_COMPANY_FORMS)}"
                founded = self.day(date(1998, 1, 1), date(2024, 12, 31))
            if name not in self.names:
                self.names.add(name)
                break
        ent = _Enterprise(
            uscc=self.uscc(region, kind),
            name=name,
            kind=kind,
            rep=rep,
            address=self.address(region),
            phone=self.mobile(),
            established_on=founded,
            status=status or self.rng.choice(_STATUSES),
            region=region,
        )
        self.t.enterprises.append(
            {
                "uscc": ent.uscc,
                "name": ent.name,
                "legal_rep_name": rep.name,
                "legal_rep_id": rep.resident_id,
                "registered_address": ent.address,
                "phone": ent.phone,
                "established_on": ent.established_on,
                "status": ent.status,
            }
        )
        return ent

    # --- records ---

    def penalty(
        self,
        ent: _Enterprise,
        decided_on: date,
        *,
        repaired_on: date | None = None,
        removed_on: date | None = None,
        notes: str | None = None,
        plain_notes: bool = False,
        basis_document: str | None = "penalty_decision",
        unintentional_minor: bool = False,
    ) -> Row:
        violation, law = self.rng.choice(_MARKET_VIOLATIONS)
        penalty, fined = self.rng.choice(_PENALTIES)
        amount = _money(self.rng.randrange(1, 400) * 500) if fined else None
        if notes is None and not plain_notes:
            notes = self.penalty_notes(decided_on)
        region = ent.region
        row = {
            "id": self.next_id("admin_penalties"),
            "uscc": ent.uscc,
            "decision_number": f"{region.city[0]}{region.district[0]}市监处罚〔{decided_on.year}〕"
            f"{next(self._seq)}号",
            "issuer": f"{region.locality}市场监督管理局",
            "decided_on": decided_on,
            "violation": f"当事人{violation}，违反了{law}的规定",
            "penalty": penalty,
            "amount": amount,
            "basis_document": basis_document,
            "repaired_on": repaired_on,
            "removed_on": removed_on,
            "notes": notes,
            "unintentional_minor": unintentional_minor,
        }
        self.t.admin_penalties.append(row)
        return row

    def penalty_notes(self, decided_on: date) -> str | None:
        roll = self.rng.random()
        if roll < 0.55:
            return None
        if roll < 0.8:
            paid = decided_on + timedelta(days=self.rng.randrange(3, 30))
            return self.rng.choice(_PENALTY_NOTES).format(date=f"{paid:%Y年%m月%d日}")
        other = self.person()
        if roll < 0.9:
            return (
                f"当事人委托代理人{other.name}（联系人身份证号{other.resident_id}，"
                f"联系电话{other.phone}）到场陈述申辩"
            )
        return f"举报人{other.name}来电{other.phone}反映该经营者存在上述违法行为"

    def debtor(
        self,
        subject_id: str,
        kind: SubjectKind,
        name: str,
        region: Region,
        listed_on: date,
        *,
        repaired_on: date | None = None,
        removed_on: date | None = None,
        force_majeure: bool = False,
        obligation: str | None = None,
        unintentional_minor: bool = False,
    ) -> Row:
        judged = listed_on - timedelta(days=self.rng.randrange(60, 400))
        basis = self.rng.choices(("judgment", "mediation_statement", "arbitration_award"), (6, 3, 1))[0]
        done = repaired_on is not None or removed_on is not None
        row = {
            "id": self.next_id("dishonest_debtors"),
            "subject_id": subject_id,
            "subject_kind": str(kind),
            "name": name,
            "case_number": f"（{listed_on.year}）{region.abbreviation}{region.code[2:]}执{next(self._seq)}号",
            "court_name": f"{region.locality}人民法院",
            "judgment_on": judged,
            "listed_on": listed_on,
            "obligation": obligation or self.obligation_text(),
            "performance_status": "全部履行" if done else self.rng.choice(("全部未履行", "部分未履行")),
            "basis_document": basis,
            "repaired_on": repaired_on,
            "removed_on": removed_on,
            "force_majeure": force_majeure,
            "unintentional_minor": unintentional_minor,
        }
        self.t.dishonest_debtors.append(row)
        return row

    def obligation_text(self) -> str:
        amount = self.rng.randrange(5, 3000) * 1000
        debt = self.rng.choice(_DEBT_KINDS)
        roll = self.rng.random()
        if roll < 0.2:
            creditor = self.person()
            return (
                f"被执行人应向申请执行人{creditor.name}（身份证号{creditor.resident_id}）"
                f"支付{debt}人民币{amount}元及迟延履行期间的债务利息"
            )
        if roll < 0.3:
            return f"被执行人应支付{debt}人民币{amount}元，执行联系人电话{self.mobile()}"
        return f"被执行人应于判决生效之日起十日内支付{debt}人民币{amount}元及逾期付款利息"

    def restriction(self, debtor: Row, person: _Person, *, lifted_on: date | None = None) -> Row:
        chosen = self.rng.sample(_RESTRICTIONS, self.rng.randrange(2, len(_RESTRICTIONS) + 1))
        row = {
            "id": self.next_id("consumption_restrictions"),
            "subject_id": debtor["subject_id"],
            "subject_kind": debtor["subject_kind"],
            "name": debtor["name"],
            "case_number": debtor["case_number"],
            "court_name": debtor["court_name"],
            "issued_on": min(debtor["listed_on"] + timedelta(days=self.rng.randrange(0, 10)), _LAST_DAY),
            "restricted_person_name": person.name,
            "restricted_person_id": person.resident_id,
            "measures": "不得" + "；不得".join(chosen),
            "basis_document": "ruling",
            "lifted_on": lifted_on,
        }
        self.t.consumption_restrictions.append(row)
        return row

    def rating(self, ent: _Enterprise, year: int, rating: str | None = None) -> Row:
        row = {
            "id": self.next_id("credit_ratings"),
            "uscc": ent.uscc,
            "year": year,
            "rating": rating or self.rng.choices("ABMCD", (25, 45, 15, 10, 5))[0],
            "evaluated_on": date(year + 1, 4, self.rng.randrange(10, 28)),
        }
        self.t.credit_ratings.append(row)
        return row

    def tax_violation(
        self,
        subject_id: str,
        kind: SubjectKind,
        taxpayer: str,
        responsible: _Person,
        address: str,
        region: Region,
        announced_on: date,
        *,
        repaired_on: date | None = None,
        removed_on: date | None = None,
    ) -> Row:
        first = announced_on.year - self.rng.randrange(2, 5)
        amount = _money(self.rng.randrange(2_000_000, 80_000_000)) / 100
        text = (
            f"经国家税务总局{region.locality}税务局检查，该纳税人{first}年至{first + 1}年期间"
            f"{self.rng.choice(_TAX_MEANS)}，少缴税款{amount}元"
        )
        if self.chance(0.15):
            agent = self.person()
            text += f"，案件联系人{agent.name}手机{agent.phone}"
        row = {
            "id": self.next_id("major_violations"),
            "subject_id": subject_id,
            "subject_kind": str(kind),
            "taxpayer_name": taxpayer,
            "responsible_person_name": responsible.name,
            "responsible_person_id": responsible.resident_id,
            "violation": text,
            "amount": _money(amount),
            "announced_on": announced_on,
            "contact_phone": responsible.phone,
            "address": address,
            "basis_document": self.rng.choice(("penalty_decision", "tax_handling_decision")),
            "repaired_on": repaired_on,
            "removed_on": removed_on,
        }
        self.t.major_violations.append(row)
        return row

    def later(self, start: date, min_days: int) -> date | None:
        """A date at least ``min_days`` after ``start`` and before the reference date, if there is one."""
        first = start + timedelta(days=min_days)
        return self.day(first, _LAST_DAY) if first <= _LAST_DAY else None


def _subject(ent: _Enterprise, description: str) -> DemoSubject:
    return DemoSubject(IdType.USCC, ent.uscc, ent.kind, ent.name, description)


def _person_subject(person: _Person, description: str) -> DemoSubject:
    return DemoSubject(
        IdType.RESIDENT_ID, person.resident_id, SubjectKind.NATURAL_PERSON, person.name, description
    )


def generate_demo_data(seed: int = DEFAULT_SEED) -> DemoDataset:
    """Generate every row of the three demo databases and the manifest; pure and deterministic."""
    g = _Generator(seed)
    legal = SubjectKind.LEGAL_PERSON
    business = SubjectKind.INDIVIDUAL_BUSINESS
    natural = SubjectKind.NATURAL_PERSON
    start, today = date(2019, 1, 1), _LAST_DAY

    # Ordinary population.
    people = [g.person() for _ in range(320)]
    companies = [g.enterprise(legal, people[i]) for i in range(190)]
    shops = [g.enterprise(business, people[190 + i]) for i in range(80)]
    firms = companies + shops

    for ent in firms:
        for _ in range(g.rng.choices((0, 1, 2, 3), (30, 40, 20, 10))[0]):
            decided = g.day(max(start, ent.established_on + timedelta(days=30)), today)
            repaired = g.later(decided, 180) if g.chance(0.12) else None
            removed = g.later(decided, 30) if repaired is None and g.chance(0.05) else None
            g.penalty(ent, decided, repaired_on=repaired, removed_on=removed)

    debtor_rows: list[tuple[Row, _Person]] = []
    for i in range(280):
        roll = g.rng.random()
        listed = g.day(date(2018, 1, 1), today)
        repaired = g.later(listed, 90) if g.chance(0.1) else None
        removed = g.later(listed, 60) if repaired is None and g.chance(0.15) else None
        flag = g.chance(0.03)
        if roll < 0.6:
            person = people[(i * 7) % len(people)]
            row = g.debtor(person.resident_id, natural, person.name, person.region, listed,
                           repaired_on=repaired, removed_on=removed, force_majeure=flag)  # fmt: skip
        else:
            ent = g.rng.choice(firms)
            person = ent.rep
            row = g.debtor(ent.uscc, ent.kind, ent.name, ent.region, listed,
                           repaired_on=repaired, removed_on=removed, force_majeure=flag)  # fmt: skip
        debtor_rows.append((row, person))
    for row, person in debtor_rows:
        if g.chance(0.6):
            ended = row["removed_on"] or row["repaired_on"]
            g.restriction(row, person, lifted_on=ended)

    for ent in companies:
        first = g.rng.randrange(2020, 2025)
        for year in range(first, min(first + g.rng.randrange(1, 4), 2026)):
            g.rating(ent, year)

    for _ in range(140):
        announced = g.day(start, today)
        repaired = g.later(announced, 365) if g.chance(0.1) else None
        removed = g.later(announced, 30) if repaired is None and g.chance(0.05) else None
        if g.chance(0.15):
            person = g.rng.choice(people)
            g.tax_violation(person.resident_id, natural, person.name, person, person.address, person.region,
                            announced, repaired_on=repaired, removed_on=removed)  # fmt: skip
        else:
            ent = g.rng.choice(firms)
            g.tax_violation(ent.uscc, ent.kind, ent.name, ent.rep, ent.address, ent.region,
                            announced, repaired_on=repaired, removed_on=removed)  # fmt: skip

    # Well-known subjects, each special in one way. They never appear in the random records above.
    rich = g.enterprise(legal, g.person(), status="存续")
    g.penalty(rich, date(2025, 3, 18), plain_notes=True)
    g.penalty(rich, date(2026, 7, 2), notes="已责令当事人立即改正违法行为")
    rich_debt = g.debtor(rich.uscc, legal, rich.name, rich.region, date(2026, 4, 20))
    g.restriction(rich_debt, rich.rep)
    for year, grade in ((2023, "B"), (2024, "B"), (2025, "D")):
        g.rating(rich, year, grade)
    g.tax_violation(rich.uscc, legal, rich.name, rich.rep, rich.address, rich.region, date(2026, 2, 14))

    operator = g.person(region=_ZHEJIANG[1])
    shop = g.enterprise(business, operator, status="存续")
    g.penalty(shop, date(2026, 5, 9), plain_notes=True)

    repaired_firm = g.enterprise(legal, g.person(), status="存续")
    g.penalty(repaired_firm, date(2025, 5, 20), repaired_on=date(2026, 2, 10), plain_notes=True)

    old_firm = g.enterprise(legal, g.person(), status="存续")
    g.penalty(old_firm, date(2022, 3, 15), plain_notes=True)

    texty = g.enterprise(legal, g.person(), status="存续")
    agent = g.person()
    typo = g.bad_check_char(agent.resident_id)
    g.penalty(
        texty,
        date(2026, 9, 1),
        notes=f"当事人委托代理人{agent.name}（联系人身份证号{agent.resident_id}，联系电话{agent.phone}）"
        f"到场陈述申辩，经核实其申请表所填身份证号{typo}有误",
    )

    def listed_person(born: date | None, listed: date, **kwargs: Any) -> _Person:
        person = g.person(born=born)
        g.debtor(person.resident_id, natural, person.name, person.region, listed, **kwargs)
        return person

    debtor = listed_person(None, date(2026, 3, 5))
    minor = listed_person(date(2010, 5, 17), date(2026, 8, 12))
    almost = listed_person(REFERENCE_DATE.replace(year=2008) + timedelta(days=1), date(2026, 9, 30))
    just = listed_person(REFERENCE_DATE.replace(year=2008), date(2026, 10, 8))
    performed = listed_person(None, date(2025, 6, 1), removed_on=date(2026, 3, 1))
    unlucky = listed_person(
        None,
        date(2026, 1, 10),
        force_majeure=True,
        obligation="被执行人应支付货款人民币120000元，因受台风灾害影响经营中断未能按期履行",
    )

    # Appended after every other draw, so the subjects above keep their values.
    grown_up = listed_person(date(2008, 6, 1), date(2026, 3, 1))
    careless = g.enterprise(legal, g.person(), status="存续")
    g.penalty(careless, date(2026, 6, 3), plain_notes=True, unintentional_minor=True)
    undocumented = g.enterprise(legal, g.person(), status="存续")
    g.penalty(undocumented, date(2026, 4, 7), plain_notes=True)
    g.penalty(undocumented, date(2026, 5, 11), plain_notes=True, basis_document=None)
    g.penalty(undocumented, date(2026, 6, 15), plain_notes=True, basis_document="inspection_notice")

    rows: dict[str, dict[str, list[Row]]] = {
        MARKET: {"enterprises": g.t.enterprises, "admin_penalties": g.t.admin_penalties},
        COURT: {
            "dishonest_debtors": g.t.dishonest_debtors,
            "consumption_restrictions": g.t.consumption_restrictions,
        },
        TAX: {"credit_ratings": g.t.credit_ratings, "major_violations": g.t.major_violations},
    }
    counts = {f"{db}.{table}": len(r) for db, tables in rows.items() for table, r in tables.items()}
    manifest = DemoManifest(
        seed=seed,
        reference_date=REFERENCE_DATE,
        row_counts=counts,
        legal_person=_subject(
            rich,
            "enterprise with 2 current penalties, 3 tax ratings (2023-2025), 1 current major tax violation, "
            "1 current dishonest-debtor entry and 1 consumption restriction on its legal representative",
        ),
        individual_business=_subject(shop, "individual business (92 code) with 1 current penalty"),
        business_operator=_person_subject(
            operator, "the individual business's operator; no records of its own"
        ),
        natural_person_debtor=_person_subject(debtor, "adult with 1 current dishonest-debtor entry"),
        minor=_person_subject(minor, "16 on the reference date, 1 current dishonest-debtor entry"),
        almost_adult=_person_subject(
            almost, "17, turns 18 the day after the reference date; 1 current entry"
        ),
        just_adult=_person_subject(just, "turns 18 on the reference date; 1 current dishonest-debtor entry"),
        repaired=_subject(
            repaired_firm, "enterprise whose only penalty (2025-05-20) was repaired on 2026-02-10"
        ),
        removed=_person_subject(
            performed, "adult whose only dishonest-debtor entry was removed on 2026-03-01"
        ),
        past_disclosure=_subject(
            old_firm, "enterprise whose only penalty (2022-03-15) is past its 3-year period"
        ),
        force_majeure=_person_subject(
            unlucky, "adult with 1 current dishonest-debtor entry flagged force majeure"
        ),
        free_text_identifiers=_subject(
            texty, "enterprise with 1 current penalty whose notes embed a resident ID, a phone and an ID typo"
        ),
        minor_at_conduct=_person_subject(
            grown_up,
            "18 on the reference date, 16 or 17 at the judgment of its 1 current dishonest-debtor entry",
        ),
        unintentional=_subject(careless, "enterprise with 1 current penalty flagged unintentional and minor"),
        unaccepted_basis=_subject(
            undocumented,
            "enterprise with 3 current penalties: 1 on a penalty decision, 1 naming no basis document, "
            "1 on an inspection notice (not a legally effective document); only the first is shared",
        ),
        embedded_resident_id=agent.resident_id,
        embedded_phone=agent.phone,
        embedded_bad_resident_id=typo,
    )
    return DemoDataset(rows, manifest)


def demo_manifest(seed: int = DEFAULT_SEED) -> DemoManifest:
    """The manifest of the data set ``seed`` generates (without touching any database)."""
    return generate_demo_data(seed).manifest


def _load(engine: Engine, database: str, tables: Mapping[str, list[Row]], replace: bool) -> None:
    metadata = demo_metadata(database)
    with engine.begin() as conn:
        if replace:
            metadata.drop_all(conn)
        else:
            clash = sorted(set(metadata.tables) & set(inspect(conn).get_table_names()))
            if clash:
                raise ConfigurationError(
                    f"demo database {database!r} already has tables {', '.join(clash)}",
                    accepted="an empty database or schema (or replace=True)",
                )
        metadata.create_all(conn)
        for table in metadata.sorted_tables:
            if tables[table.name]:
                conn.execute(table.insert(), tables[table.name])


def build_demo_databases(
    urls: Mapping[str, str], seed: int = DEFAULT_SEED, *, replace: bool = False
) -> DemoManifest:
    """Create the demo tables behind each URL (database id -> SQLAlchemy URL) and fill them.

    ``urls`` must name exactly the demo databases (``market``, ``court``, ``tax``). Existing demo
    tables are an error unless ``replace`` is true, in which case they are dropped first.
    """
    if set(urls) != set(DEMO_DATABASES):
        raise ConfigurationError(
            "demo databases must be given exactly", accepted=", ".join(DEMO_DATABASES), field="urls"
        )
    data = generate_demo_data(seed)
    for database in DEMO_DATABASES:
        engine = create_engine(urls[database])
        try:
            _load(engine, database, data.rows[database], replace)
        except SQLAlchemyError as exc:
            raise ConfigurationError(
                f"demo database {database!r} could not be built ({type(exc).__name__})"
            ) from None
        finally:
            engine.dispose()
    return data.manifest


def write_demo_sqlite(directory: Path, seed: int = DEFAULT_SEED) -> dict[str, str]:
    """(Re)create ``<directory>/<database>.db`` for each demo database; return database id -> URL."""
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    urls: dict[str, str] = {}
    for database in DEMO_DATABASES:
        path = directory / f"{database}.db"
        for stale in (path, path.with_name(path.name + "-journal")):
            stale.unlink(missing_ok=True)
        urls[database] = f"sqlite:///{path}"
    build_demo_databases(urls, seed)
    return urls
