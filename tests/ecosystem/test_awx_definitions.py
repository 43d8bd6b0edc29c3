# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/vars/awx.yml against what it describes: the playbooks, the role's
variables and cron defaults, and the rules AWX applies to credential types,
surveys and schedules. No AWX server here: playbooks/awx_configure.yml is
checked by ansible-playbook --syntax-check, ansible-lint (make lint) and a run
that must stop at its own input check; the job templates themselves run
through ansible-runner in molecule/default/tests/test_job_templates.py.
"""

from __future__ import annotations

import datetime
import os
import re
import subprocess

import jinja2
import jinja2.meta
import pytest
import yaml
from dateutil.rrule import rrulestr
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tests.ecosystem.conftest import REPO, VENV_BIN, load_yaml

DEFINITIONS = REPO / "playbooks" / "vars" / "awx.yml"
ROLE = REPO / "roles" / "frende_db"


class _Loader(yaml.SafeLoader):
    """YAML with Ansible's !unsafe tag (AWX's own templates are marked with it)."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load_definitions():
    with open(DEFINITIONS, encoding="utf-8") as f:
        return yaml.load(f, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


DEFS = load_definitions()
TYPES = {t["key"]: t for t in DEFS["frende_db_awx_credential_types"]}
TEMPLATES = {t["name"]: t for t in DEFS["frende_db_awx_job_templates"]}
ROLE_DEFAULTS = load_yaml(ROLE / "defaults" / "main.yml")
ROLE_SPECS = load_yaml(ROLE / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]


def configure_play():
    return load_yaml(REPO / "playbooks" / "awx_configure.yml")[0]


def configure_task(module):
    for task in configure_play()["tasks"]:
        if module in task:
            return task
    raise AssertionError("awx_configure.yml has no %s task" % module)


# --- Job templates and their playbooks ---------------------------------------

def playbook_texts(playbook):
    """The playbook and every task file it imports (role tasks_from, import_tasks), as text."""
    texts, todo, seen = [], [REPO / playbook], set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        assert path.is_file(), "%s imports %s, which does not exist" % (playbook, path)
        text = path.read_text(encoding="utf-8")
        texts.append(text)
        for name in re.findall(r"tasks_from:\s*(\S+)", text):
            todo.append(ROLE / "tasks" / name)
        for name in re.findall(r"import_tasks:\s*(\S+)", text):
            todo.append(path.parent / name)
        if re.search(r"role: frende\.db\.frende_db\b", text):
            todo.extend(sorted((ROLE / "tasks").glob("*.yml")))
            todo.extend(sorted((ROLE / "templates").glob("*.j2")))
    return "\n".join(texts)


def test_the_eight_operations_each_have_one_job_template_whose_playbook_exists():
    playbooks = sorted(t["playbook"] for t in TEMPLATES.values())
    assert playbooks == ["playbooks/%s.yml" % n for n in sorted(
        ["setup", "backup", "restore", "drill", "health", "maintenance", "rotate_password", "report"])]
    assert len(TEMPLATES) == len(DEFS["frende_db_awx_job_templates"]), "job template names must be unique"
    for template in TEMPLATES.values():
        assert (REPO / template["playbook"]).is_file(), template["playbook"]
        assert set(template["credentials"]) <= set(TYPES), template["name"]
        assert isinstance(template["become"], bool)
        proc = subprocess.run([str(VENV_BIN / "ansible-playbook"), "--syntax-check", "-i", "localhost,",
                               str(REPO / template["playbook"])], capture_output=True, text=True,
                              env=dict(os.environ, PATH=str(VENV_BIN) + os.pathsep + os.environ["PATH"]), check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_survey_variable_is_one_the_playbook_uses(name):
    template = TEMPLATES[name]
    text = playbook_texts(template["playbook"])
    for question in template["survey"]:
        variable = question["variable"]
        assert re.search(r"\b%s\b" % re.escape(variable), text), \
            "%s asks for %s, which %s never reads" % (name, variable, template["playbook"])
        assert question["type"] in ("text", "multiplechoice", "integer", "password")
        assert question["question_name"]
        if variable in ROLE_SPECS and "choices" in ROLE_SPECS[variable]:
            assert question["type"] == "multiplechoice"
            assert question["choices"] == ROLE_SPECS[variable]["choices"], variable
            assert question["default"] == ROLE_DEFAULTS[variable], variable
        if question["type"] == "multiplechoice":
            assert question.get("default") in question["choices"]


def test_the_restore_survey_requires_a_backup_and_the_playbook_passes_it_on():
    template = [t for t in TEMPLATES.values() if t["playbook"] == "playbooks/restore.yml"][0]
    (question,) = template["survey"]
    assert question["variable"] == "backup_file"
    assert question["required"] is True and "default" not in question
    assert "latest" in question["question_description"]
    assert question["min"] >= 1
    play = load_yaml(REPO / "playbooks" / "restore.yml")[0]
    assert "backup_file" in play["vars"]["frende_db_restore_backup_file"]


def test_templates_that_decrypt_or_set_up_carry_the_credentials_they_need():
    by_playbook = {t["playbook"]: set(t["credentials"]) for t in TEMPLATES.values()}
    assert by_playbook["playbooks/setup.yml"] == {"database", "tls"}
    for playbook in ("playbooks/restore.yml", "playbooks/drill.yml"):
        assert "database" in by_playbook[playbook]
        assert "backup_identity_copy.yml" in (REPO / playbook).read_text()


# --- Credential types ---------------------------------------------------------

# Environment variables AWX refuses to let a credential type set
# (awx/main/fields.py, CredentialTypeInjectorField).
AWX_RESERVED_ENV = re.compile(r"^(ANSIBLE_.*|PATH|HOME|JOB_ID|INVENTORY_ID|PROJECT_REVISION|PYTHONPATH|"
                              r"VIRTUAL_ENV|AWX_.*|TOWER_.*|CALLBACK_.*|MAX_EVENT_RES|REST_API_.*|"
                              r"INVENTORY_HOSTVARS|JOB_CALLBACK_DEBUG)$")


def referenced_names(template):
    return jinja2.meta.find_undeclared_variables(jinja2.Environment().parse(template))


@pytest.mark.parametrize("key", sorted(TYPES))
def test_credential_type_injectors_render_as_awx_validates_them(key):
    ctype = TYPES[key]
    fields = {f["id"]: f for f in ctype["inputs"]["fields"]}
    assert set(ctype["inputs"]["required"]) <= set(fields)
    injectors = ctype["injectors"]
    assert set(injectors) <= {"env", "file", "extra_vars"}
    labels = [label.split(".", 1)[1] for label in injectors.get("file", {})]
    assert all(label.startswith("template.") for label in injectors.get("file", {}))
    # AWX renders every injector with each field set and tower.filename.<label>
    # defined, and refuses templates that name anything else.
    namespace = {fid: "EXAMPLE" for fid in fields}
    namespace["tower"] = namespace["awx"] = {"filename": {label: "/runner/env/tmpXXXX" for label in labels}}
    sandbox = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    for section in ("env", "file", "extra_vars"):
        for name, template in injectors.get(section, {}).items():
            assert referenced_names(template) <= set(namespace), (key, name)
            assert sandbox.from_string(template).render(**namespace)
    for name in injectors.get("env", {}):
        assert not AWX_RESERVED_ENV.match(name), "AWX does not let a credential set %s" % name
    # A field that reaches a job is secret unless it is public by nature
    # (certificates): AWX then masks it in the job's recorded environment.
    for fid, field in fields.items():
        if fid not in ("server_cert", "ca_cert"):
            assert field.get("secret") is True, fid


def test_the_database_credential_feeds_what_the_role_and_playbooks_read():
    env = TYPES["database"]["injectors"]["env"]
    # The role's default for the password reads this environment variable.
    (password_env,) = re.findall(r"'ansible\.builtin\.env', '(\w+)'", ROLE_DEFAULTS["frende_db_app_password"])
    assert env[password_env] == "{{ db_app_password }}"
    copy_tasks = (REPO / "playbooks" / "tasks" / "backup_identity_copy.yml").read_text()
    (identity_env,) = re.findall(r"'ansible\.builtin\.env', '(\w+)'", copy_tasks)
    assert env[identity_env] == "{{ tower.filename.identity }}"
    assert TYPES["database"]["injectors"]["file"]["template.identity"] == "{{ backup_identity }}"


def test_the_tls_credential_sets_the_role_variables_for_operator_certificates():
    extra = TYPES["tls"]["injectors"]["extra_vars"]
    assert sorted(extra) == ["frende_db_ssl_ca", "frende_db_ssl_cert", "frende_db_ssl_key"]
    for name in extra:
        assert name in ROLE_DEFAULTS and ROLE_DEFAULTS[name] == ""


# --- Schedules ------------------------------------------------------------------

def cron_field(spec, low, high, sunday_is_seven=False):
    """The set of values a cron field matches (*, lists, ranges, steps)."""
    values = set()
    for part in str(spec).split(","):
        base, step = (part.split("/", 1) + [""])[:2]
        if base == "*":
            start, end = low, high
        elif "-" in base:
            start, end = (int(x) for x in base.split("-"))
        else:
            start = end = int(base)
        values.update(range(start, end + 1, int(step or 1)))
    if sunday_is_seven and 7 in values:
        values.discard(7)
        values.add(0)
    return values


def cron_times(schedule, start, end):
    """Wall-clock times in [start, end) at which cron runs a job with this schedule."""
    minutes = cron_field(schedule.get("minute", "0"), 0, 59)
    hours = cron_field(schedule.get("hour", "*"), 0, 23)
    days = cron_field(schedule.get("day", "*"), 1, 31)
    months = cron_field(schedule.get("month", "*"), 1, 12)
    weekdays = cron_field(schedule.get("weekday", "*"), 0, 7, sunday_is_seven=True)
    day_any, weekday_any = str(schedule.get("day", "*")) == "*", str(schedule.get("weekday", "*")) == "*"
    found, day = set(), start.date()
    while day < end.date():
        cron_weekday = (day.weekday() + 1) % 7  # cron: 0 = Sunday
        if day_any and weekday_any:
            day_ok = True
        elif day_any or weekday_any:
            day_ok = (day.day in days) if weekday_any else (cron_weekday in weekdays)
        else:  # both restricted: cron runs on either
            day_ok = day.day in days or cron_weekday in weekdays
        if day.month in months and day_ok:
            for hour in hours:
                for minute in minutes:
                    moment = datetime.datetime(day.year, day.month, day.day, hour, minute)
                    if start <= moment < end:
                        found.add(moment)
        day += datetime.timedelta(days=1)
    return found


def awx_rrule(schedule, timezone):
    """The rrule string awx_configure.yml sends, rendered from its own task."""
    expression = configure_task("awx.awx.schedule")["awx.awx.schedule"]["rrule"]
    return jinja2.Template(expression).render(item=schedule, frende_db_awx_timezone=timezone)


def awx_rrule_errors(value):
    """The checks AWX's schedule serializer makes (awx/api/serializers.py, validate_rrule)."""
    errors = []
    dtstarts = re.findall(r"DTSTART(;[^:]+)?:[0-9]+T[0-9]+Z?", value)
    if len(dtstarts) != 1:
        errors.append("exactly one DTSTART")
    if re.search(r"DTSTART:[0-9]+T[0-9]+ ", value):
        errors.append("DTSTART cannot be a naive datetime")
    rules = re.findall(r"RRULE:\S*", value)
    if len(rules) != 1:
        errors.append("one RRULE")
    for rule in rules:
        if "INTERVAL" not in rule:
            errors.append("INTERVAL required")
        if "SECONDLY" in rule or re.search(r"BYDAY=[0-9-]", rule) or ("COUNT" in rule and "UNTIL" in rule):
            errors.append("unsupported: " + rule)
    if "EXDATE" in value or "RDATE" in value:
        errors.append("EXDATE/RDATE")
    return errors


@pytest.mark.parametrize("schedule", DEFS["frende_db_awx_schedules"], ids=lambda s: s["cron_default"])
@pytest.mark.parametrize("timezone", ["UTC", "Europe/Oslo"])
def test_schedules_parse_and_run_exactly_when_the_role_s_cron_job_would(schedule, timezone):
    value = awx_rrule(schedule, timezone)
    assert awx_rrule_errors(value) == [], value
    rule = rrulestr(value)
    start = datetime.datetime.strptime(schedule["dtstart"], "%Y%m%dT%H%M%S")
    end = start + datetime.timedelta(days=366)
    zone = rule[0].tzinfo
    occurrences = {moment.replace(tzinfo=None) for moment in
                   rule.between(start.replace(tzinfo=zone), end.replace(tzinfo=zone), inc=True)
                   if moment.replace(tzinfo=None) < end}
    assert str(zone).find(timezone) >= 0
    expected = cron_times(ROLE_DEFAULTS[schedule["cron_default"]], start, end)
    assert expected, "the cron default %s never runs?" % schedule["cron_default"]
    assert occurrences == expected, (value, sorted(occurrences ^ expected)[:5])


def test_every_cron_job_of_the_role_has_a_schedule_and_scheduled_jobs_launch_unattended():
    # The cron jobs are __frende_db_cron_jobs in vars/main.yml, rendered into /etc/cron.d/frende-db.
    operations = (ROLE / "vars" / "main.yml").read_text()
    assert "__frende_db_cron_jobs" in (ROLE / "templates" / "frende-db.cron.j2").read_text()
    cron_defaults = set(re.findall(r'schedule: "\{\{ (frende_db_\w+_schedule) \}\}"', operations))
    assert cron_defaults == {s["cron_default"] for s in DEFS["frende_db_awx_schedules"]}
    for schedule in DEFS["frende_db_awx_schedules"]:
        template = TEMPLATES[schedule["job_template"]]
        # A scheduled job has nobody to answer a survey: defaults must do.
        assert all("default" in q or not q.get("required") for q in template["survey"]), template["name"]
    # The nightly cron job verifies the new set, then cleans up; the playbook the schedule runs must too.
    assert re.search(r"--action backup\s*&& [^\n]*--action verify --backup-file latest\s*&& [^\n]*--action cleanup",
                     operations), "the nightly cron job must verify the new set before cleanup"
    assert "action: verify" in (ROLE / "tasks" / "backup.yml").read_text()
    assert "action: cleanup" in (REPO / TEMPLATES["Frende database: backup"]["playbook"]).read_text()


@pytest.mark.parametrize("bad, error", [
    ("DTSTART:20260101T020000 RRULE:FREQ=DAILY;INTERVAL=1", "naive"),
    ("DTSTART;TZID=UTC:20260101T020000 RRULE:FREQ=DAILY;BYHOUR=2", "INTERVAL"),
    ("DTSTART;TZID=UTC:20260101T020000", "one RRULE"),
    ("DTSTART;TZID=UTC:20260101T020000 RRULE:FREQ=MONTHLY;INTERVAL=1;BYDAY=1SU", "unsupported"),
])
def test_the_rrule_checks_refuse_what_awx_refuses(bad, error):
    assert any(error in e for e in awx_rrule_errors(bad)), awx_rrule_errors(bad)


# --- awx_configure.yml ------------------------------------------------------------

def run_configure(*args, env=None):
    environ = dict(os.environ, PATH=str(VENV_BIN) + os.pathsep + os.environ["PATH"],
                   ANSIBLE_COLLECTIONS_PATH=str(REPO / "build" / "collections"), ANSIBLE_NOCOLOR="1")
    environ.pop("DB_APP_PASSWORD", None)
    environ.update(env or {})
    return subprocess.run([str(VENV_BIN / "ansible-playbook"), str(REPO / "playbooks" / "awx_configure.yml")]
                          + list(args), capture_output=True, text=True, env=environ, check=False, timeout=300)


def test_awx_configure_passes_the_syntax_check():
    proc = run_configure("--syntax-check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_awx_configure_stops_before_awx_is_touched_when_settings_are_missing():
    # A closed port: reaching it would mean the check let the run through.
    proc = run_configure(env={"CONTROLLER_HOST": "https://127.0.0.1:9"})
    assert proc.returncode != 0
    assert "Set frende_db_awx_scm_url" in proc.stdout and "AWX was not changed" in proc.stdout
    assert "127.0.0.1:9" not in proc.stdout


def test_awx_configure_refuses_a_tls_file_that_is_not_there(tmp_path):
    password = "Not-For-The-Log-4711"
    proc = run_configure("-e", "frende_db_awx_scm_url=https://git.example.org/frende/db.git",
                         "-e", "frende_db_awx_tls_cert_file=%s" % (tmp_path / "missing.crt"),
                         "-e", "frende_db_awx_tls_key_file=%s" % DEFINITIONS,
                         "-e", "frende_db_awx_tls_ca_file=%s" % DEFINITIONS, "-vvv",
                         env={"CONTROLLER_HOST": "https://127.0.0.1:9", "DB_APP_PASSWORD": password})
    assert proc.returncode != 0
    assert "missing.crt is not a readable file on this machine" in proc.stdout
    assert "127.0.0.1:9" not in proc.stdout
    assert password not in proc.stdout + proc.stderr


def test_awx_configure_reads_every_definition_it_is_given():
    text = (REPO / "playbooks" / "awx_configure.yml").read_text()
    for name in ("frende_db_awx_credential_types", "frende_db_awx_job_templates", "frende_db_awx_schedules"):
        assert "loop: \"{{ %s }}\"" % name in text, name
    assert configure_play()["vars_files"] == ["vars/awx.yml"]
    credentials = configure_task("awx.awx.credential")
    assert credentials["no_log"] is True
    assert sorted(credentials["vars"]["__frende_db_awx_inputs"]) == sorted(TYPES)
    assert sorted(credentials["vars"]["__frende_db_awx_inputs"]["tls"]) == sorted(
        f["id"] for f in TYPES["tls"]["inputs"]["fields"])


def test_awx_configure_sends_awx_its_templates_unrendered(tmp_path):
    # All settings given; AWX is a closed port, so the run ends at the first
    # call to it, with the arguments of that call in the -vvv output.
    pem = tmp_path / "x.pem"
    pem.write_text("not a certificate\n")
    password = "Not-For-The-Log-4712"
    files = ["-e", "frende_db_awx_tls_cert_file=%s" % pem, "-e", "frende_db_awx_tls_key_file=%s" % pem,
             "-e", "frende_db_awx_tls_ca_file=%s" % pem]
    proc = run_configure("-e", "frende_db_awx_scm_url=https://git.example.org/frende/db.git", *files, "-vvv",
                         env={"CONTROLLER_HOST": "https://127.0.0.1:9", "DB_APP_PASSWORD": password})
    assert proc.returncode != 0
    assert "There was an unknown error when trying to connect to https://127.0.0.1:9/api/v2/credential_types/" \
        in proc.stdout
    assert '"DB_APP_PASSWORD": "{{ db_app_password }}"' in proc.stdout
    assert '"frende_db_ssl_key": "{{ tower.filename.key }}"' in proc.stdout
    assert password not in proc.stdout + proc.stderr


@pytest.mark.parametrize("schedule", DEFS["frende_db_awx_controller_schedules"], ids=lambda s: s["name"])
def test_controller_schedules_run_weekly_and_their_template_exists(schedule):
    """The security report has no cron job on a host: its schedule is AWX's own, once a week, unattended."""
    value = awx_rrule(schedule, "UTC")
    assert awx_rrule_errors(value) == [], value
    start = datetime.datetime.strptime(schedule["dtstart"], "%Y%m%dT%H%M%S").replace(tzinfo=datetime.timezone.utc)
    runs = list(rrulestr(value).between(start, start + datetime.timedelta(days=27), inc=True))
    assert len(runs) == 4 and all((b - a) == datetime.timedelta(days=7) for a, b in zip(runs, runs[1:]))
    template = TEMPLATES[schedule["job_template"]]
    assert template["playbook"] == "playbooks/report.yml"
    assert all("default" in q or not q.get("required") for q in template["survey"])
