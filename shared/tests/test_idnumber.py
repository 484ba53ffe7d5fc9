from datetime import date

import pytest

from fangpin.idnumber import (
    InvalidIdNumber,
    check_character,
    make_id_number,
    mask,
    normalise_id_number,
)


def test_a_well_formed_number_is_accepted():
    number = make_id_number("510904", date(1980, 5, 17), 123)
    assert normalise_id_number(number) == number


def test_lower_case_x_is_normalised():
    first17 = "51090419800517" + "001"
    for serial in range(1000):
        first17 = f"51090419800517{serial:03d}"
        if check_character(first17) == "X":
            break
    assert normalise_id_number(first17 + "x") == first17 + "X"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("51090419800517123", "18 characters"),
        ("5109041980051712A4", "17 digits"),
        ("510904198002301234", "birth date"),
    ],
)
def test_malformed_numbers_are_refused_with_a_reason(number, reason):
    with pytest.raises(InvalidIdNumber, match=reason):
        normalise_id_number(number)


def test_a_wrong_check_character_is_refused_without_repeating_the_number():
    number = make_id_number("510904", date(1975, 1, 2), 7)
    wrong = number[:-1] + ("1" if number[-1] != "1" else "2")
    with pytest.raises(InvalidIdNumber) as refused:
        normalise_id_number(wrong)
    assert "check character" in str(refused.value)
    assert wrong not in str(refused.value)


def test_masking_keeps_only_region_and_last_four():
    number = make_id_number("510904", date(1990, 12, 31), 55)
    shown = mask(number)
    assert shown.startswith("510") and shown.endswith(number[-4:])
    assert number[6:14] not in shown
