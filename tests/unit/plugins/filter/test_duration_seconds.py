"""frende.db.duration_seconds: durations as operators write them, in seconds, and the words when they are none."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.frende.db.plugins.filter.duration_seconds import FilterModule, duration_seconds


@pytest.mark.parametrize("value, seconds", [
    ("26h", 93600),
    ("2min", 120),
    ("90s", 90),
    ("30min", 1800),
    ("35d", 3024000),
    (" 7 days ", 604800),
    ("60", 60),
    (45, 45),
    (0, 0),
    ("1.5s", 1.5),
    ("250ms", 0.25),
    (2.5, 2.5),
])
def test_durations_become_seconds(value, seconds):
    assert duration_seconds(value) == seconds


@pytest.mark.parametrize("value, kind", [("26h", int), ("1.5h", int), ("1.5s", float), (10, int), (0.5, float)])
def test_whole_seconds_are_an_int_and_the_rest_a_float(value, kind):
    assert isinstance(duration_seconds(value), kind)  # an int is no float, a float no int


@pytest.mark.parametrize("value, words", [
    ("", "must be a duration such as '60s', '30min', '26h' or '7d', got ''"),
    ("abc", "got 'abc'"),
    ("-5s", "got '-5s'"),
    (True, "got True"),
    ("10 parsecs", "got '10 parsecs'"),
    (-5, "must not be negative, got -5"),
    (None, "got None"),
])
def test_anything_else_is_refused_with_the_reason_and_examples(value, words):
    with pytest.raises(AnsibleFilterError) as info:
        duration_seconds(value, "frende_db_alert_down_for")
    message = str(info.value)
    assert message.startswith("frende_db_alert_down_for must ")
    assert words in message


def test_without_a_name_the_message_speaks_of_the_value():
    with pytest.raises(AnsibleFilterError, match=r"^value must be a duration such as"):
        duration_seconds("soon")


def test_ansible_finds_it_as_frende_db_duration_seconds():
    assert FilterModule().filters()["duration_seconds"] is duration_seconds
