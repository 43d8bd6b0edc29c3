import datetime

import pytest

from ansible_collections.frende.db.plugins.module_utils._backup.retention import select_for_cleanup

NOW = datetime.datetime(2026, 11, 28, 3, 0, tzinfo=datetime.timezone.utc)


def backups(*ages_days, database="frende", verified="ok"):
    return [dict(name="%s-%02d" % (database, age), database=database, verified=verified,
                 finished_at=NOW - datetime.timedelta(days=age)) for age in ages_days]


def test_removes_only_what_is_older_than_retention():
    remove, keep = select_for_cleanup(backups(1, 2, 3, 29, 31, 40), NOW, 30, 3)
    assert sorted(remove) == ["frende-31", "frende-40"]
    assert sorted(keep) == ["frende-01", "frende-02", "frende-03", "frende-29"]


def test_keeps_newest_keep_min_whatever_their_age():
    remove, keep = select_for_cleanup(backups(45, 50, 60, 70, 80), NOW, 30, 3)
    assert sorted(keep) == ["frende-45", "frende-50", "frende-60"]
    assert sorted(remove) == ["frende-70", "frende-80"]


def test_invalid_backups_do_not_count_towards_keep_min():
    items = backups(40, 41, verified="failed") + backups(50, 51, 52)
    remove, keep = select_for_cleanup(items, NOW, 30, 2)
    assert sorted(keep) == ["frende-50", "frende-51"]
    assert sorted(remove) == ["frende-40", "frende-41", "frende-52"]


def test_keep_min_applies_per_database():
    items = backups(40, 41) + backups(42, 43, database="other")
    remove, keep = select_for_cleanup(items, NOW, 30, 1)
    assert sorted(keep) == ["frende-40", "other-42"]
    assert sorted(remove) == ["frende-41", "other-43"]


@pytest.mark.parametrize("retention,keep_min,expected_removed", [(1, 1, 5), (100, 1, 0), (30, 6, 0)])
def test_nothing_removed_below_the_limits(retention, keep_min, expected_removed):
    remove = select_for_cleanup(backups(2, 3, 4, 5, 6, 7), NOW, retention, keep_min)[0]
    assert len(remove) == expected_removed


def test_sets_nobody_verified_do_not_count_towards_keep_min():
    """The nightly job used to skip verification: two fresh unverified sets must not push out the verified ones."""
    items = backups(1, 2, verified="never") + backups(40, 45, 50)
    remove, keep = select_for_cleanup(items, NOW, 30, 2)
    assert sorted(keep) == ["frende-01", "frende-02", "frende-40", "frende-45"]
    assert remove == ["frende-50"]


def test_with_too_few_verified_sets_nothing_not_known_bad_is_removed():
    items = backups(35, 40, verified="never") + backups(45) + backups(50, verified="failed")
    remove, keep = select_for_cleanup(items, NOW, 30, 3)
    assert sorted(keep) == ["frende-35", "frende-40", "frende-45"]
    assert remove == ["frende-50"]
