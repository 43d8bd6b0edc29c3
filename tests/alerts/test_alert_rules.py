# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Prometheus alert rules (roles/frende_db/templates/frende_db.rules.yml.j2), rendered the way the role
renders them and checked by promtool: `promtool check rules`, and the unit tests in frende_db.rules.test.yml,
which make each alert fire and not fire. promtool comes from scripts/prometheus-tools.sh (make alerts)."""

from __future__ import annotations

import re
import shutil
import subprocess

import jinja2
import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.frende.db.plugins.filter.duration_seconds import duration_seconds
from tests.support.playbook import REPO, run_tasks

TEMPLATE = REPO / "roles" / "frende_db" / "templates" / "frende_db.rules.yml.j2"
RULES_TEST = REPO / "tests" / "alerts" / "frende_db.rules.test.yml"
ROLE_DEFAULTS_FILE = REPO / "roles" / "frende_db" / "defaults" / "main.yml"
PROMTOOL = REPO / "build" / "prometheus-tools" / "bin" / "promtool"

# The role's defaults for the alert rules: frende_db.rules.test.yml expects exactly these
# (26h -> 93600 s, 2min -> for: 120s, ...), and defaults/main.yml must hold the same.
DEFAULTS = {
    "frende_db_alert_backup_max_age": "26h",
    "frende_db_alert_drill_max_age": "35d",
    "frende_db_alert_failed_auth_threshold": 20,
    "frende_db_alert_certificate_days": 21,
    "frende_db_alert_connections_pct": 80,
    "frende_db_alert_down_for": "2min",
    "frende_db_alert_for": "10min",
    "frende_db_alert_unverified_for": "2h",
}
DURATIONS = ["frende_db_alert_backup_max_age", "frende_db_alert_drill_max_age", "frende_db_alert_down_for",
             "frende_db_alert_for", "frende_db_alert_unverified_for"]
ALERTS = {"FrendeDbDown", "FrendeDbBackupMissing", "FrendeDbBackupFailed", "FrendeDbBackupUnverified",
          "FrendeDbWalArchiveStale", "FrendeDbDrillFailed", "FrendeDbHealthUnhealthy", "FrendeDbFailedAuthBurst",
          "FrendeDbCertificateExpiring", "FrendeDbConnectionsHigh"}
# Ansible's template options in the role's task: Prometheus keeps {{ }} for itself.
DELIMITERS = dict(variable_start_string="[[", variable_end_string="]]", block_start_string="[%", block_end_string="%]")


def role_alert_defaults():
    """The role's defaults/main.yml values of the variables in DEFAULTS (those it has)."""
    defaults = yaml.safe_load(ROLE_DEFAULTS_FILE.read_text(encoding="utf-8")) or {}
    return {key: defaults[key] for key in DEFAULTS if key in defaults}


def render(**overrides):
    """The rules file as the role's template task writes it (trim_blocks and the trailing newline as in Ansible)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE.parent)), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, keep_trailing_newline=True, autoescape=False, **DELIMITERS)
    env.filters["frende.db.duration_seconds"] = duration_seconds
    variables = dict(DEFAULTS, **role_alert_defaults())
    variables.update(overrides)
    return env.get_template(TEMPLATE.name).render(**variables)


def promtool(*args, cwd=None):
    if not PROMTOOL.exists():
        pytest.fail("%s is missing: run `bash scripts/prometheus-tools.sh` (or `make alerts`) first" % PROMTOOL)
    return subprocess.run([str(PROMTOOL)] + list(args), capture_output=True, text=True, cwd=cwd, check=False)


def write_rules(directory, text):
    path = directory / "frende_db.rules.yml"
    path.write_text(text, encoding="utf-8")
    return path


def check_rules(path):
    # --lint-fatal: two rules of one alert with the same labels would be reported, but pass.
    proc = promtool("check", "rules", "--lint-fatal", str(path))
    assert proc.returncode == 0, "promtool check rules:\n%s%s\n--- %s\n%s" % (
        proc.stdout, proc.stderr, path, path.read_text(encoding="utf-8"))


def alert_rules(text):
    groups = yaml.safe_load(text)["groups"]
    assert [group["name"] for group in groups] == ["frende_db"]
    return groups[0]["rules"]


def test_the_role_defaults_are_the_ones_the_rule_tests_expect():
    found = role_alert_defaults()
    missing = sorted(set(DEFAULTS) - set(found))
    assert not missing, "roles/frende_db/defaults/main.yml lacks %s (the template needs them)" % ", ".join(missing)
    assert found == DEFAULTS, ("the alert defaults in roles/frende_db/defaults/main.yml differ from DEFAULTS here, "
                               "which tests/alerts/frende_db.rules.test.yml is written for")


def test_promtool_accepts_the_rules_with_the_defaults(tmp_path):
    check_rules(write_rules(tmp_path, render()))


def test_every_alert_fires_and_stays_quiet_as_the_promtool_unit_tests_say(tmp_path):
    write_rules(tmp_path, render())
    shutil.copy(RULES_TEST, tmp_path / RULES_TEST.name)
    proc = promtool("test", "rules", RULES_TEST.name, cwd=tmp_path)
    assert proc.returncode == 0, "promtool test rules %s:\n%s%s" % (RULES_TEST.name, proc.stdout, proc.stderr)


def test_promtool_accepts_the_rules_with_test_sized_durations(tmp_path):
    text = render(frende_db_alert_down_for="10s", frende_db_alert_for="10s", frende_db_alert_unverified_for="30s",
                  frende_db_alert_backup_max_age="90s", frende_db_alert_drill_max_age=300)
    check_rules(write_rules(tmp_path, text))
    durations = sorted(rule.get("for") for rule in alert_rules(text) if "for" in rule)
    assert durations == ["10s", "10s", "10s", "10s", "30s"]
    assert "> 90\n" in text and "> 300\n" in text


def test_a_fraction_of_a_second_becomes_milliseconds(tmp_path):
    text = render(frende_db_alert_down_for="1.5s")
    check_rules(write_rules(tmp_path, text))
    assert alert_rules(text)[0]["for"] == "1500ms"


def test_the_defaults_become_seconds_and_numbers():
    text = render()
    rules = {rule["alert"] + ":" + rule["labels"].get("reason", ""): rule for rule in alert_rules(text)}
    assert rules["FrendeDbDown:"]["for"] == "120s"
    assert rules["FrendeDbBackupMissing:"]["expr"].endswith("> 93600")
    assert rules["FrendeDbBackupUnverified:not_verified"]["for"] == "7200s"
    assert rules["FrendeDbDrillFailed:no_passed_drill"]["expr"].endswith("> 3024000")
    assert rules["FrendeDbHealthUnhealthy:"]["for"] == "600s"
    assert rules["FrendeDbFailedAuthBurst:"]["expr"].endswith("> 20")
    assert rules["FrendeDbCertificateExpiring:"]["expr"].endswith("< 1814400")
    assert re.search(r"\) > 80$", rules["FrendeDbConnectionsHigh:"]["expr"])


def test_every_alert_is_there_with_severity_summary_and_description():
    rules = alert_rules(render())
    assert {rule["alert"] for rule in rules} == ALERTS
    for rule in rules:
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        assert rule["annotations"]["description"].strip(), name
        summary = rule["annotations"]["summary"]
        assert "{{ $labels.host }}" in summary, "%s: the summary does not name the host: %s" % (name, summary)
        assert "`" in summary, "%s: the summary says no command to run: %s" % (name, summary)


def test_the_rules_carry_nothing_secret_looking():
    text = render().lower()
    for word in ("password", "passphrase", "secret", "age-secret-key"):
        assert word not in text, word


@pytest.mark.parametrize("variable", DURATIONS)
@pytest.mark.parametrize("value", ["2m", "soon", "-5min", ""])
def test_a_bad_duration_fails_the_rendering_naming_the_variable(variable, value):
    with pytest.raises(AnsibleFilterError, match="^%s must " % variable) as info:
        render(**{variable: value})
    assert "'26h'" in str(info.value), "the message gives examples"


def test_ansible_renders_it_the_same(tmp_path):
    """The role's template task (Ansible's engine, the collection's filter) writes what these tests checked."""
    dest = tmp_path / "frende_db.rules.yml"
    task = {"name": "Render the alert rules", "ansible.builtin.template": dict(
        src=str(TEMPLATE), dest=str(dest), mode="0644", **DELIMITERS)}
    proc, results = run_tasks([task], play_vars=dict(DEFAULTS, **role_alert_defaults()))
    assert not results[0].get("failed"), "%s\n%s" % (results[0], proc.stderr)
    assert dest.read_text(encoding="utf-8") == render()
