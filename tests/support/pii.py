"""Generated personal identifiers for the desensitization tests: valid ones and their corruptions.

Everything is derived from a seeded ``random.Random`` so failures reproduce. The check characters are
computed with ``gateway.domain.identifiers`` (resident ID, credit code) and a Luhn routine written
here independently of ``gateway.domain.desensitize.text_scan``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta

from gateway.domain.identifiers import USCC_ALPHABET, resident_id_check_char, uscc_check_char

REGIONS = ("110105", "310104", "440305", "330782", "510107", "420106", "610113", "650102")
MOBILE_SEGMENTS = ("130", "135", "138", "145", "150", "158", "166", "177", "186", "189", "199")
DIGITS = "0123456789"
RESIDENT_ID_CHECKS = "0123456789X"


def resident_id(rng: random.Random, born: date | None = None) -> str:
    """A valid 18-character resident ID."""
    if born is None:
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 30000))
    first17 = rng.choice(REGIONS) + born.strftime("%Y%m%d") + f"{rng.randrange(0, 1000):03d}"
    return first17 + resident_id_check_char(first17)


def uscc(rng: random.Random, prefix: str = "91") -> str:
    """A valid unified social credit code (``prefix`` "92" for an individual business)."""
    body = "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    first17 = prefix + rng.choice(REGIONS) + body
    return first17 + uscc_check_char(first17)


def _luhn_check_digit(partial: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def bank_card(rng: random.Random, length: int | None = None) -> str:
    """A Luhn-valid UnionPay-style card number of 16 to 19 digits."""
    n = length if length is not None else rng.choice((16, 17, 18, 19))
    partial = "62" + "".join(rng.choice(DIGITS) for _ in range(n - 3))
    return partial + _luhn_check_digit(partial)


def mobile(rng: random.Random) -> str:
    """An 11-digit mobile number in an allocated segment."""
    return rng.choice(MOBILE_SEGMENTS) + "".join(rng.choice(DIGITS) for _ in range(8))


def substitutions(value: str, position: int, alphabet: str) -> Iterator[str]:
    """Every single-character substitution of ``value`` at ``position`` within ``alphabet``."""
    for ch in alphabet:
        if ch != value[position]:
            yield value[:position] + ch + value[position + 1 :]


def resident_id_corruptions(value: str) -> Iterator[str]:
    """Every substitution of one character (digits for digits, 0-9/X for the check character)."""
    for i in range(18):
        yield from substitutions(value, i, RESIDENT_ID_CHECKS if i == 17 else DIGITS)


def uscc_corruptions(value: str) -> Iterator[str]:
    """Every substitution of one character within the shape's alphabet at that position."""
    for i in range(18):
        yield from substitutions(value, i, DIGITS if 2 <= i < 8 else USCC_ALPHABET)


def bank_card_corruptions(value: str) -> Iterator[str]:
    """Every substitution of one digit."""
    for i in range(len(value)):
        yield from substitutions(value, i, DIGITS)


_FILLER = (
    "当事人",
    "于2023年5月12日",
    "在朝阳区经营期间",
    "未按规定公示年度报告",
    "罚款人民币5000元",
    "案号(2023)京0105行罚123号",
    "经查",
    "，",
    "。",
    "；",
    " ",
    "联系人",
    "the party",
    "fined 5000 yuan",
)
_CONTEXT = (
    "身份证号",
    "手机",
    "电话",
    "银行卡号",
    "统一社会信用代码",
    "护照",
    "邮箱",
    "ID card ",
    "tel ",
    "account ",
    "",
)


def _noise(rng: random.Random) -> str:
    kind = rng.randrange(8)
    if kind == 0:
        return resident_id(rng)
    if kind == 1:
        return next(resident_id_corruptions(resident_id(rng)))
    if kind == 2:
        return uscc(rng, rng.choice(("91", "92", "12")))
    if kind == 3:
        card = bank_card(rng)
        return card if rng.random() < 0.7 else " ".join(card[i : i + 4] for i in range(0, len(card), 4))
    if kind == 4:
        number = mobile(rng)
        return rng.choice((number, f"+86 {number}", f"{number[:3]}-{number[3:7]}-{number[7:]}"))
    if kind == 5:
        return rng.choice(("010-62345678", "(0755)2345678", "0571 87654321"))
    if kind == 6:
        return rng.choice(("E12345678", "EA1234567", "G87654321"))
    return rng.choice(("zhang.san@example.com", "li4@mail.example.cn", "wang_wu+x@gov.example.org"))


def free_text(rng: random.Random, *, candidates: int = 2) -> str:
    """A Chinese penalty-description sentence with ``candidates`` identifiers (valid or corrupted)."""
    parts = [rng.choice(_FILLER) for _ in range(rng.randrange(3, 9))]
    for _ in range(candidates):
        parts.insert(rng.randrange(len(parts) + 1), rng.choice(_CONTEXT) + _noise(rng))
    return "".join(parts)
