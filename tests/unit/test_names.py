"""docker's generated container names (pycontainer/names.py)."""

import random
import re

import pytest

from pycontainer import names
from pycontainer.errors import PyContainerError


def test_a_name_is_adjective_underscore_surname():
    n = names.generate(lambda _n: False, random.Random(1).randrange)
    a, s = n.split("_", 1)
    assert a in names.ADJECTIVES and s in names.SURNAMES
    assert re.fullmatch(r"[a-z]+_[a-z_]+", n)


def test_a_taken_name_gets_a_digit_then_another_pair():
    first = names.generate(lambda _n: False, random.Random(7).randrange)
    seen = []

    def taken(n):
        seen.append(n)
        return len(seen) <= 3                 # the plain name and two digits are in use
    got = names.generate(taken, random.Random(7).randrange)
    assert seen[0] == first and got == seen[3]
    assert re.fullmatch(re.escape(first) + r"\d", got)


def test_no_free_name_is_an_error_a_user_can_act_on():
    with pytest.raises(PyContainerError, match="--name"):
        names.generate(lambda _n: True)


def test_an_id_is_dockers_64_hex_digits_never_a_numeric_short_id():
    ids = {names.new_id() for _ in range(200)}
    assert len(ids) == 200 and all(re.fullmatch(r"[0-9a-f]{64}", i) for i in ids)
    assert not any(i[:12].isdigit() for i in ids)
