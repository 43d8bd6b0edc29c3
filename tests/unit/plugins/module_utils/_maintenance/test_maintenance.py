"""Btree bloat estimates and the choice of indexes to rebuild."""

import pytest

from ansible_collections.frende.db.plugins.module_utils._maintenance import maintenance as m

MB = 1024 * 1024


def stats_index(pages, tuples, width=4.0, **over):
    index = dict(schema="public", name="i", table_name="t", bytes=pages * 8192, block_size=8192,
                 reltuples=float(tuples), data_width=width, missing_stats=False, has_nulls=False,
                 fillfactor=90, valid=True)
    index.update(over)
    return index


def test_fresh_int4_index_has_no_bloat():
    # 1,000,000 int4 keys: 16-byte tuples + 4-byte line pointer, 366 per leaf page at fillfactor 90
    index = stats_index(2745, 1000000)
    assert m.estimate_bloat_from_statistics(index) < 5


def test_mostly_deleted_index_is_bloated():
    # the same pages now hold a tenth of the rows
    assert m.estimate_bloat_from_statistics(stats_index(2745, 100000)) > 85


def test_wider_keys_need_more_pages():
    narrow = m.estimate_bloat_from_statistics(stats_index(5000, 1000000, width=4))
    wide = m.estimate_bloat_from_statistics(stats_index(5000, 1000000, width=33))
    assert narrow > wide


def test_lower_fillfactor_expects_more_pages():
    ff90 = m.estimate_bloat_from_statistics(stats_index(3500, 1000000))
    ff50 = m.estimate_bloat_from_statistics(stats_index(3500, 1000000, fillfactor=50))
    assert ff90 > 15 and ff50 == 0.0


@pytest.mark.parametrize("over", [dict(reltuples=-1.0), dict(missing_stats=True), dict(data_width=None)])
def test_no_statistics_means_no_estimate(over):
    assert m.estimate_bloat_from_statistics(stats_index(1000, 1000, **over)) is None


def test_tiny_index_is_never_bloated():
    assert m.estimate_bloat_from_statistics(stats_index(1, 0)) == 0.0


def test_pgstatindex_measure():
    # 1431 leaf pages at 9.6% density (the integration test's table after deleting 90%)
    bloated = dict(index_size=1446 * 8192, internal_pages=14, leaf_pages=1431, avg_leaf_density=9.6)
    assert 85 < m.estimate_bloat_from_pgstatindex(bloated, 8192, 90) < 90
    fresh = dict(index_size=1444 * 8192, internal_pages=14, leaf_pages=1429, avg_leaf_density=89.96)
    assert m.estimate_bloat_from_pgstatindex(fresh, 8192, 90) == 0.0
    empty = dict(index_size=8192, internal_pages=0, leaf_pages=0, avg_leaf_density=float("nan"))
    assert m.estimate_bloat_from_pgstatindex(empty, 8192, 90) == 0.0


def candidate(name, size_mb, bloat, valid=True):
    return dict(schema="public", name=name, table_name="t", bytes=int(size_mb * MB), bloat_pct=bloat,
                valid=valid, method="statistics")


def test_selection_threshold_and_minimum_size():
    indexes = [candidate("big_bloated", 50, 60.0), candidate("big_fine", 50, 10.0),
               candidate("small_bloated", 1, 90.0), candidate("at_threshold", 50, 30.0),
               candidate("no_stats", 50, None), candidate("leftover_ccnew", 50, 95.0, valid=False)]
    chosen, skipped = m.select_for_reindex(indexes, 30, 10 * MB)
    assert [i["name"] for i in chosen] == ["big_bloated"]
    reasons = {i["name"]: i["reason"] for i in skipped}
    assert reasons["big_fine"] == "bloat 10.0% is not above 30%"
    assert reasons["small_bloated"] == "smaller than the minimum size"
    assert reasons["at_threshold"] == "bloat 30.0% is not above 30%"
    assert "VACUUM ANALYZE" in reasons["no_stats"]
    assert "invalid index" in reasons["leftover_ccnew"]


def test_selection_zero_minimum_takes_small_ones():
    chosen = m.select_for_reindex([candidate("small", 0.1, 50.0)], 30, 0)[0]
    assert [i["name"] for i in chosen] == ["small"]
