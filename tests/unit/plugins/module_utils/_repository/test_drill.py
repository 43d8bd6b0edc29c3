"""The physical drill's verdict: pure functions, no server."""

import pytest

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._repository.drill import ScratchServer, row_count_problems, verdict


def test_row_counts_far_from_their_statistics_are_problems():
    counts = [("public.orders", 100000, 99000), ("public.big", 50000, 20000), ("public.new", -1, 5),
              ("public.small", 10, 900)]
    assert row_count_problems(counts) == ["public.big has 20000 rows, its statistics say about 50000"]


def test_verdict_names_each_missed_target():
    assert verdict(100, 60, 1800, 300, [])["ok"] is True
    missed = verdict(2000, 400, 1800, 300, [])
    assert missed["ok"] is False and len(missed["missed"]) == 2 and "RTO 2000s" in missed["missed"][0]
    # No commit replayed (a quiet database): the RPO cannot be missed by it.
    assert verdict(100, None, 1800, 300, [])["ok"] is True
    assert verdict(100, 60, 1800, 300, ["x"])["ok"] is False


def test_a_backup_of_a_version_this_host_lacks_is_refused_with_what_to_do(tmp_path):
    """A Debian 12 backup host drilling a PostgreSQL 17 stanza (or 13 drilling 15): a clear error, no restore."""
    with pytest.raises(FrendeDbError, match=r"stanza frende is of PostgreSQL 99.*Install postgresql-99 here"):
        ScratchServer(str(tmp_path / "scratch"), "99").check_programs("frende")
    assert not (tmp_path / "scratch").exists()
