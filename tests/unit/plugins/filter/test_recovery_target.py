"""frende.db.recovery_target: what a recovery target may be, and the words when it may not."""

import datetime

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.frende.db.plugins.filter.recovery_target import recovery_target

NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.timezone.utc).timestamp()


@pytest.mark.parametrize("text, utc", [
    ("2026-12-01 15:59:00+00", "2026-12-01 15:59:00.000000+00"),
    ("2026-12-01T16:59:00+01:00", "2026-12-01 15:59:00.000000+00"),
    ("2026-12-01 15:59:00Z", "2026-12-01 15:59:00.000000+00"),
    ("2026-12-01 15:59+0000", "2026-12-01 15:59:00.000000+00"),
    ("2026-12-01 10:59:00.25-05", "2026-12-01 15:59:00.250000+00"),
])
def test_times_with_a_zone_become_utc(text, utc):
    assert recovery_target(text, NOW)["utc"] == utc


@pytest.mark.parametrize("text, words", [
    ("2026-12-01 15:59:00", "without a zone"),
    ("yesterday", "not a time with its zone"),
    ("", "empty"),
    ("2026-02-30 10:00:00+00", "not a valid time"),
    ("2026-12-03 00:00:00+00", "in the future"),
    ("2026-12-01 15:59:00+00; DROP", "not a time"),
])
def test_anything_else_is_refused_with_the_reason(text, words):
    with pytest.raises(AnsibleFilterError, match="recover_target_time .* refused, nothing was changed") as info:
        recovery_target(text, NOW)
    assert words in str(info.value)


def test_the_default_present_is_the_controller_clock():
    with pytest.raises(AnsibleFilterError, match="in the future"):
        recovery_target("2999-01-01 00:00:00+00")
