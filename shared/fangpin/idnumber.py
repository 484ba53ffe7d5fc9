"""Chinese resident ID numbers (GB 11643): 18 characters, ISO 7064 MOD 11-2 check."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

_WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]
_CHECK = "10X98765432"


class InvalidIdNumber(ValueError):
    """The reason never repeats the number itself: it is personal data."""


def check_character(first17: str) -> str:
    total = sum(
        int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=False)
    )
    return _CHECK[total % 11]


def normalise_id_number(raw: str) -> str:
    """Return the canonical form (upper-case X) or raise with a reason."""
    number = raw.strip().upper()
    if len(number) != 18:
        raise InvalidIdNumber(f"must have 18 characters, has {len(number)}")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise InvalidIdNumber("must be 17 digits followed by a digit or X")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber("contains no valid birth date") from None
    if born > date.today() or born.year < 1900:
        raise InvalidIdNumber("birth date is out of range")
    if check_character(number[:17]) != number[17]:
        raise InvalidIdNumber("check character does not match (ISO 7064 MOD 11-2)")
    return number


def birth_date(number: str) -> date:
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def pseudonym(number: str, key: str) -> str:
    """A keyed hash: stable per person, not guessable from the number space."""
    return hmac.new(key.encode(), number.encode(), hashlib.sha256).hexdigest()


def make_id_number(area6: str, born: date, serial: int) -> str:
    """Build a valid number (for demo data and tests)."""
    first17 = f"{area6}{born:%Y%m%d}{serial % 1000:03d}"
    return first17 + check_character(first17)


def mask(number: str) -> str:
    """What screens show: the region and the last four characters only."""
    return number[:3] + "*" * 11 + number[-4:]
