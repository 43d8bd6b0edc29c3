import pytest

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError
from ansible_collections.frende.db.plugins.module_utils._postgres import ident, validate_identifier


@pytest.mark.parametrize("name", ["frende", "frende_app", "pg_monitor", "_x", "a$b", "app-1", "a" * 63])
def test_accepted_names(name):
    assert validate_identifier(name) == name


@pytest.mark.parametrize("name", ['x"; DROP TABLE t; --', "", "1abc", "a b", "a'b", "a\x00b", "a" * 64, "ü" * 32, None, 5])
def test_refused_names(name):
    with pytest.raises(FrendeDbError) as err:
        validate_identifier(name, "role name")
    assert "role name" in str(err.value)


def test_ident_quotes_only_accepted_names():
    assert ident("Mixed_Case").strings == ("Mixed_Case",)
    with pytest.raises(FrendeDbError):
        ident('x"; DROP TABLE t; --', "schema")
