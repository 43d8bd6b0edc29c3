"""frende.db.client_networks: what pg_hba.conf gets from frende_db_allowed_clients."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.frende.db.plugins.filter.client_networks import client_networks, networks


def fake_dns(table):
    return lambda name: (table[name], None) if name in table else (None, "Name or service not known")


def test_addresses_networks_and_names_become_networks():
    found, problems = networks(["10.0.4.11", "10.0.5.7/24", "2001:db8::7", "app1.example.com", "10.0.4.11"],
                               resolve=fake_dns({"app1.example.com": ["10.0.9.1", "2001:db8::9"]}))
    assert problems == []
    assert found == ["10.0.4.11/32", "10.0.5.0/24", "10.0.9.1/32", "2001:db8::7/128", "2001:db8::9/128"]


@pytest.mark.parametrize("entry, words", [
    ("app1.example.com/32", "not an address, a network"),  # the old template's line PostgreSQL refused
    ("10.0.0.300", "not an address, a network"),
    ("10.0.0.0/33", "not an address, a network"),
    ("no such host!", "not an address, a network"),
    ("", "not an address"),
    (None, "not an address"),
    ("gone.example.invalid", "does not resolve on the controller"),
])
def test_anything_else_is_refused_by_name(entry, words):
    found, problems = networks(["10.0.4.11", entry], resolve=fake_dns({}))
    assert found == ["10.0.4.11/32"] and len(problems) == 1 and words in problems[0]


def test_the_filter_refuses_with_every_bad_entry_named():
    with pytest.raises(AnsibleFilterError) as err:
        client_networks(["10.0.0.300", "app1.example.com/32"])
    assert "nothing was changed" in str(err.value)
    assert "'10.0.0.300'" in str(err.value) and "'app1.example.com/32'" in str(err.value)


def test_a_string_is_not_a_list():
    with pytest.raises(AnsibleFilterError, match="must be a list"):
        client_networks("10.0.0.1")


def test_localhost_resolves_on_this_controller():
    assert "127.0.0.1/32" in client_networks(["localhost"])
