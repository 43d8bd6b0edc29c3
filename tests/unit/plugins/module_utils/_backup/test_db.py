from ansible_collections.frende.db.plugins.module_utils._backup.db import setting_assignment, split_setting_list


def test_setting_lists_split_like_postgres_stores_them():
    assert split_setting_list('app, "my schema", public') == ["app", "my schema", "public"]
    assert split_setting_list('"a""b"') == ['a"b']
    assert split_setting_list("") == []


def test_setting_assignment_uses_literals():
    composed = setting_assignment("search_path=app, \"x'y\"")
    parts = repr(composed)
    assert "Literal('app')" in parts and "Literal(\"x'y\")" in parts
    assert "Literal('5s')" in repr(setting_assignment("statement_timeout=5s"))
