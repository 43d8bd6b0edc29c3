from ansible_collections.frende.db.plugins.module_utils._backup.restore import compare_counts, derived_name


def test_derived_names_fit_postgres_limit():
    name = derived_name("d" * 63, "pre_restore", "20261128020000")
    assert len(name.encode()) == 63 and name.endswith("_pre_restore_20261128020000")
    assert derived_name("frende", "restore", "20261128020000") == "frende_restore_20261128020000"


def test_compare_counts():
    assert compare_counts({"public.a": 1}, {"public.a": 1}) == []
    assert compare_counts({"public.a": 1, "public.b": 2}, {"public.a": 3, "public.c": 0}) == [
        "public.a has 3 rows, the backup 1", "public.b missing", "public.c not in the backup"]
