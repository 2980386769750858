"""Desensitization operators (GB/T 37964-2019 techniques), pure and class-aware.

* **mask** keeps what display masking (GB/T 35273-2020 annex) allows per class: a resident ID keeps
  its region and check character (``110105***********X``), a unified social credit code its first 8
  characters and check character, a name its surname (``张*``), a phone number its first 3 and last 4
  digits, a bank card its last 4 digits, an address its province/city/district, a birth date its year.
* **generalize** keeps only a coarser value: a date becomes its year, a birth date an age band on a
  given reference date, an address its province/city/district, an identifier its region.
* **pseudonymize** replaces a value by an HMAC-SHA256 keyed per recipient: the key is derived with
  HKDF-SHA256 from the gateway's pseudonym secret and the recipient's id, so one recipient always sees
  the same pseudonym for the same subject and two recipients see unlinkable ones.
* **suppress** releases nothing (``None``).

Encryption needs a cipher library, so it lives in ``gateway.adapters.crypto.ciphers``; the key derivation it
uses (``hkdf_sha256``) is here. Free text is masked finding by finding (``mask_findings``) with the
spans ``gateway.domain.desensitize.text_scan`` found.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from gateway.domain.catalog import FieldClass
from gateway.domain.desensitize.text_scan import Entity, Finding, resident_id_valid, resolve, uscc_valid
from gateway.domain.identifiers import age_on

MASK = "*"
SUPPRESSED_ADDRESS = "***"
PSEUDONYM_PREFIX = "pn:"
HKDF_SALT = b"credit-gateway/v1"

ValueFn = Callable[[Any], Any]


# --- key derivation and pseudonyms --------------------------------------------------------------


def hkdf_sha256(ikm: bytes, *, info: bytes, length: int = 32, salt: bytes = HKDF_SALT) -> bytes:
    """HKDF-SHA256 (RFC 5869): extract with ``salt``, expand with ``info`` to ``length`` bytes."""
    if not 0 < length <= 255 * 32:
        raise ValueError("HKDF-SHA256 output length out of range")
    prk = hmac.digest(salt, ikm, "sha256")
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.digest(prk, block + info + bytes([counter]), "sha256")
        out += block
        counter += 1
    return out[:length]


def pseudonym_key(secret: bytes, recipient: str) -> bytes:
    """The HMAC key of one recipient, derived from the gateway's pseudonym secret."""
    return hkdf_sha256(secret, info=b"pseudonym\x00" + recipient.encode("utf-8"))


def canonical_value(value: Any) -> str:
    """The text a value is pseudonymized as: NFKC, trimmed; identifiers upper-cased; dates ISO."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if len(text) == 18 and text.isalnum():
        text = text.upper()  # resident IDs written with a lower-case x, codes typed in lower case
    return text


def pseudonym(key: bytes, value: Any) -> str:
    """The pseudonym of ``value`` under a key from ``pseudonym_key``: ``pn:`` + 24 base64url characters.

    144 bits of HMAC-SHA256. Base64url rather than hex: hex digits run together often enough to wake
    the residual guard's pre-check for nothing.
    """
    digest = hmac.digest(key, canonical_value(value).encode("utf-8"), "sha256")
    return PSEUDONYM_PREFIX + base64.urlsafe_b64encode(digest[:18]).decode("ascii")


def pseudonym_function(key: bytes) -> Callable[[Any], str]:
    """``pseudonym`` with ``key`` fixed, for the hot path: the HMAC pads are hashed once (RFC 2104).

    Copying two prepared SHA-256 states costs a third of a one-shot ``hmac.digest``, whose setup
    dominates on short values.
    """
    block = key.ljust(64, b"\0") if len(key) <= 64 else hashlib.sha256(key).digest().ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    encode = base64.urlsafe_b64encode

    def pseudonym_of(value: Any) -> str:
        h = inner.copy()
        h.update(canonical_value(value).encode("utf-8"))
        o = outer.copy()
        o.update(h.digest())
        return PSEUDONYM_PREFIX + encode(o.digest()[:18]).decode("ascii")

    return pseudonym_of


def pseudonymize(key: bytes, recipient: str, value: Any) -> str:
    """Pseudonymize ``value`` for ``recipient`` with the gateway's pseudonym secret ``key``.

    Stable for one recipient, unlinkable across recipients. The hot path derives the recipient key
    once with ``pseudonym_key`` and keeps a ``pseudonym_function`` of it.
    """
    return pseudonym(pseudonym_key(key, recipient), value)


# --- masks --------------------------------------------------------------------------------------


def _keep(text: str, head: int, tail: int) -> str:
    """Keep ``head`` leading and ``tail`` trailing characters; mask all if that would keep it all."""
    n = len(text)
    if n <= head + tail:
        return MASK * n
    return text[:head] + MASK * (n - head - tail) + text[n - tail :]


def mask_resident_id(value: str) -> str:
    """Keep the 6-digit region code and the check character: ``110105***********X``."""
    return _keep(value, 6, 1)


def mask_uscc(value: str) -> str:
    """Keep the first 8 characters (authority, type, region) and the check character."""
    return _keep(value, 8, 1)


def mask_subject_id(value: str) -> str:
    """Mask a resident ID or a credit code, whichever the value is (the stricter mask if neither)."""
    if not resident_id_valid(value) and uscc_valid(value.upper()):
        return mask_uscc(value)
    return mask_resident_id(value)


def mask_name(value: str) -> str:
    """Keep the surname (first character): ``张*``, ``张**``."""
    text = value.strip()
    return text[:1] + MASK * (len(text) - 1) if len(text) > 1 else MASK * len(text)


def mask_phone(value: str) -> str:
    """Keep the first 3 and last 4 characters: ``138****5678``."""
    return _keep(value, 3, 4)


def mask_bank_card(value: str) -> str:
    """Keep the last 4 digits."""
    return _keep(value, 0, 4)


def mask_passport(value: str) -> str:
    """Keep the document-type letter and the last 3 digits."""
    return _keep(value, 1, 3)


def mask_email(value: str) -> str:
    """Keep the first character of the local part and the domain: ``z***@example.com``."""
    local, at, domain = value.rpartition("@")
    if not at or not local:
        return MASK * len(value)
    return local[:1] + MASK * 3 + "@" + domain


def mask_all(value: str) -> str:
    """Mask every character (classes with no display rule)."""
    return MASK * len(value)


# Province-level names, then city and district units. Units are Chinese characters only (a number
# or a Latin letter ends them), so a street number never slips into the generalized address.
_PROVINCE = re.compile(r"(?:北京|上海|天津|重庆)市|[\u4e00-\u9fff]{2,8}?(?:省|自治区|特别行政区)")
_MUNICIPALITY = ("北京市", "上海市", "天津市", "重庆市")
_UNIT = re.compile(r"[\u4e00-\u9fff]{1,7}?(?:自治州|自治县|自治旗|地区|市|州(?![市区县])|盟|区|县|旗)")


def _is_district(unit: str, *, county_city: bool) -> bool:
    if unit.endswith("地区"):
        return False  # a prefecture, not a district
    return unit.endswith(("区", "县", "旗")) or (county_city and unit.endswith("市"))


def generalize_address(value: str) -> str:
    """Cut an address after its district: ``北京市朝阳区建国路88号`` -> ``北京市朝阳区``.

    Province (or municipality), then city, then the first unit ending in 区/县/市/旗. What cannot be
    recognized is not released: an address with no recognizable unit becomes ``***``.
    """
    text = value.strip()
    parts: list[str] = []
    pos = 0
    province = _PROVINCE.match(text)
    if province:
        parts.append(province.group())
        pos = province.end()
        if province.group() in _MUNICIPALITY:
            district = _UNIT.match(text, pos)
            if district and _is_district(district.group(), county_city=False):
                parts.append(district.group())
            return "".join(parts)
    city = _UNIT.match(text, pos)
    if city:
        parts.append(city.group())
        if not _is_district(city.group(), county_city=False):
            district = _UNIT.match(text, city.end())
            if district and _is_district(district.group(), county_city=True):
                parts.append(district.group())
    return "".join(parts) or SUPPRESSED_ADDRESS


def mask_address(value: str) -> str:
    """The generalized address followed by a mask for everything cut off."""
    general = generalize_address(value)
    return general if general == SUPPRESSED_ADDRESS else general + MASK * 4


_ISO_DATE = re.compile(r"([0-9]{4})-?([0-9]{2})-?([0-9]{2})")
_CN_DATE = re.compile(r"([0-9]{4})年([0-9]{1,2})月([0-9]{1,2})日")


def parse_date(value: Any) -> date | None:
    """A date from a date, a datetime, ``YYYY-MM-DD[...]``, ``YYYYMMDD`` or ``YYYY年M月D日``."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    m = _ISO_DATE.match(text) or _CN_DATE.match(text)
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


_YEAR_MONTH = re.compile(r"([0-9]{4})(?:[-/年](?:0?[1-9]|1[0-2])月?)?")


def generalize_date(value: Any) -> Any:
    """A date (or date-like text, or a year-month) becomes its year, as text; anything else passes."""
    if isinstance(value, datetime | date):
        return str(value.year)
    if isinstance(value, str):
        parsed = parse_date(value)
        if parsed is not None:
            return str(parsed.year)
        m = _YEAR_MONTH.fullmatch(value.strip())
        if m:
            return m.group(1)
    return value


def age_band(born: date, today: date) -> str:
    """The age band on ``today``: ``0-17`` (minors), ``18-29``, ``30-39`` ... ``70+``."""
    age = age_on(born, today)
    if age < 18:
        return "0-17"
    if age < 30:
        return "18-29"
    if age >= 70:
        return "70+"
    low = age // 10 * 10
    return f"{low}-{low + 9}"


def mask_date_of_birth(value: Any) -> str:
    """Keep the year: ``1990-**-**``."""
    born = parse_date(value)
    return f"{born.year:04d}-**-**" if born else MASK * 4


def generalize_date_of_birth(value: Any, today: date) -> str:
    """The age band on ``today`` (unparsable birth dates are not released)."""
    born = parse_date(value)
    return age_band(born, today) if born else MASK * 4


def _first(n: int) -> Callable[[str], str]:
    def keep(value: str) -> str:
        return value[:n] if len(value) > n else MASK * len(value)

    return keep


def generalize_subject_id(value: str) -> str:
    """A resident ID keeps its region code (6 digits), a credit code its first 8 characters."""
    if not resident_id_valid(value) and uscc_valid(value.upper()):
        return _first(8)(value)
    return _first(6)(value)


def generalize_email(value: str) -> str:
    """Only the domain."""
    _, at, domain = value.rpartition("@")
    return domain if at else MASK * len(value)


_TEXT_MASKS: dict[FieldClass, Callable[[str], str]] = {
    FieldClass.RESIDENT_ID: mask_resident_id,
    FieldClass.USCC: mask_uscc,
    FieldClass.SUBJECT_ID: mask_subject_id,
    FieldClass.NAME: mask_name,
    FieldClass.PHONE: mask_phone,
    FieldClass.ADDRESS: mask_address,
    FieldClass.BANK_CARD: mask_bank_card,
    FieldClass.EMAIL: mask_email,
    FieldClass.PUBLIC: mask_all,
    FieldClass.FREE_TEXT: mask_all,  # callers scan free text instead; this is the fallback
}

_TEXT_GENERALIZERS: dict[FieldClass, Callable[[str], str]] = {
    FieldClass.RESIDENT_ID: _first(6),
    FieldClass.USCC: _first(8),
    FieldClass.SUBJECT_ID: generalize_subject_id,
    FieldClass.NAME: _first(1),
    FieldClass.PHONE: _first(3),
    FieldClass.ADDRESS: generalize_address,
    FieldClass.BANK_CARD: _first(6),
    FieldClass.EMAIL: generalize_email,
    FieldClass.FREE_TEXT: mask_all,
}


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime | date) else str(value)


def mask_function(field_class: FieldClass) -> ValueFn:
    """The mask of a class as a function of one value (``None`` stays ``None``)."""
    if field_class is FieldClass.DATE_OF_BIRTH:
        return lambda v: None if v is None else mask_date_of_birth(v)
    fn = _TEXT_MASKS[field_class]
    return lambda v: None if v is None else fn(v if isinstance(v, str) else _text(v))


def generalize_function(field_class: FieldClass, today: date) -> ValueFn:
    """The generalization of a class as a function of one value; ``today`` dates age bands.

    Public values that are dates become years; other public values are already public and pass.
    """
    if field_class is FieldClass.DATE_OF_BIRTH:
        return lambda v: None if v is None else generalize_date_of_birth(v, today)
    if field_class is FieldClass.PUBLIC:
        return generalize_date
    fn = _TEXT_GENERALIZERS[field_class]
    return lambda v: None if v is None else fn(v if isinstance(v, str) else _text(v))


def mask(field_class: FieldClass, value: Any) -> Any:
    """Mask one value by its class."""
    return mask_function(field_class)(value)


def generalize(field_class: FieldClass, value: Any, today: date) -> Any:
    """Generalize one value by its class (``today`` is the reference date for age bands)."""
    return generalize_function(field_class, today)(value)


# --- free text ----------------------------------------------------------------------------------

ENTITY_MASKS: dict[Entity, Callable[[str], str]] = {
    Entity.RESIDENT_ID: mask_resident_id,
    Entity.USCC: mask_uscc,
    Entity.INDIVIDUAL_BUSINESS: mask_uscc,
    Entity.MOBILE: mask_phone,
    Entity.LANDLINE: mask_phone,
    Entity.BANK_CARD: mask_bank_card,
    Entity.PASSPORT: mask_passport,
    Entity.EMAIL: mask_email,
}


def mask_findings(text: str, findings: Sequence[Finding]) -> str:
    """Replace every personal finding in ``text`` by its entity's mask (overlaps merged first)."""
    if not findings:
        return text
    spans = resolve(findings)
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for start, end, entity in spans:
        out.append(text[pos:start])
        out.append(ENTITY_MASKS[entity](text[start:end]))
        pos = end
    out.append(text[pos:])
    return "".join(out)
