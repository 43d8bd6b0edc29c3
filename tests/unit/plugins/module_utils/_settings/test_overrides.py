"""Which settings of the managed file something else overrides, and the fix, from pg_file_settings rows."""

from ansible_collections.frende.db.plugins.module_utils._settings.overrides import diff, plan_overrides

CONF = "/etc/postgresql/15/main/postgresql.conf"
OURS = "/etc/postgresql/15/main/conf.d/frende.conf"
LOCAL = "/etc/postgresql/15/main/conf.d/zz-local.conf"
AUTO = "/var/lib/postgresql/15/main/postgresql.auto.conf"


def rows(*entries):
    return [dict(seqno=i, sourcefile=f, sourceline=i + 1, name=n, setting=v, error=None)
            for i, (f, n, v) in enumerate(entries)]


def test_nothing_overrides_the_managed_file():
    entries = rows((CONF, "log_connections", "off"), (OURS, "log_connections", "on"), (OURS, "max_connections", "200"))
    assert plan_overrides(entries, OURS) == []


def test_alter_system_is_reset_and_the_diff_names_the_auto_conf():
    entries = rows((CONF, "log_connections", "off"), (OURS, "log_connections", "on"), (AUTO, "log_connections", "off"))
    plan = plan_overrides(entries, OURS)
    assert plan == [dict(name="log_connections", wanted="on", wanted_from=OURS + ":2", effective="off",
                         effective_from=AUTO + ":3", fix="reset")]
    assert diff(plan) == dict(before={"log_connections": "off (%s:3)" % AUTO},
                              after={"log_connections": "on (%s:2)" % OURS})


def test_a_later_file_is_never_edited_the_policy_goes_into_auto_conf():
    entries = rows((OURS, "max_connections", "200"), (LOCAL, "max_connections", "50"))
    assert plan_overrides(entries, OURS)[0]["fix"] == "set"
    # Once the policy value is in postgresql.auto.conf, nothing is left to do.
    settled = rows((OURS, "max_connections", "200"), (LOCAL, "max_connections", "50"), (AUTO, "max_connections", "200"))
    assert plan_overrides(settled, OURS) == []
    # ...until the policy changes: still "set", never a reset that would let the later file win.
    changed = rows((OURS, "max_connections", "300"), (LOCAL, "max_connections", "50"), (AUTO, "max_connections", "200"))
    assert plan_overrides(changed, OURS)[0]["fix"] == "set"


def test_an_alter_system_value_equal_to_the_policy_is_left_alone():
    entries = rows((OURS, "log_connections", "on"), (AUTO, "log_connections", "on"))
    assert plan_overrides(entries, OURS) == []


def test_only_the_named_settings_and_the_last_entry_of_the_managed_file_count():
    entries = rows((OURS, "log_connections", "off"), (OURS, "log_connections", "on"), (AUTO, "log_connections", "off"),
                   (OURS, "log_disconnections", "on"), (AUTO, "log_disconnections", "off"))
    assert [p["name"] for p in plan_overrides(entries, OURS)] == ["log_connections", "log_disconnections"]
    assert [p["name"] for p in plan_overrides(entries, OURS, ["log_disconnections"])] == ["log_disconnections"]
    assert plan_overrides(entries, OURS)[0]["wanted_from"] == OURS + ":2"


def test_entries_with_errors_are_not_taken_for_the_winner():
    entries = rows((OURS, "log_connections", "on"), (AUTO, "log_connections", "maybe"))
    entries[1]["error"] = "setting could not be applied"
    assert plan_overrides(entries, OURS) == []
