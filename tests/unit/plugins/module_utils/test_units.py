import pytest

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._units import format_duration, parse_duration


@pytest.mark.parametrize("text,seconds", [
    ("60s", 60), ("30min", 1800), ("26h", 93600), ("7d", 604800), ("1.5h", 5400), (" 10 s ", 10), (90, 90), ("250ms", 0.25),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "abc", "10 parsecs", "-5s", "5 h m", True, "1e3s"])
def test_parse_duration_refuses(bad):
    with pytest.raises(FrendeDbError) as err:
        parse_duration(bad, "max_backup_age")
    assert "max_backup_age" in str(err.value)


@pytest.mark.parametrize("seconds,text", [(45, "45s"), (720, "12min"), (12600, "3.5h"), (172800, "2d")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
