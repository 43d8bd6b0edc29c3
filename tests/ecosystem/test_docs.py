# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""docs/ and README.md say what the code does: pages exist for every playbook,
documented defaults equal the real ones, variable and job template names exist,
quoted failure messages come from the code, links resolve, and ansible-doc
shows every module and the role from the installed collection."""

from __future__ import annotations

import ast
import re

import ansible
import pytest
import yaml

from tests.ecosystem.conftest import MODULES, REPO, VENV_BIN, load_yaml, run
from tests.ecosystem.test_awx_definitions import DEFS, ROLE_DEFAULTS

DOCS = sorted((REPO / "docs").rglob("*.md")) + [REPO / "README.md"]
PLAYBOOKS = sorted(p.stem for p in (REPO / "playbooks").glob("*.yml"))
CONFIGURE_VARS = load_yaml(REPO / "playbooks" / "awx_configure.yml")[0]["vars"]
# The gauges the jobs write (their names start with frende_db_ too): the keys of _metrics/samples.py's HELP.
METRIC_HELP = [node.value for node in ast.walk(ast.parse((REPO / "plugins" / "module_utils" / "_metrics" / "samples.py")
                                                         .read_text())) if isinstance(node, ast.Constant)
               and isinstance(node.value, str) and re.fullmatch(r"frende_db_[a-z_]+", node.value)]
# ... and Prometheus' scrape jobs (vars/main.yml, __frende_db_scrape_jobs).
METRIC_HELP += re.findall(r"- name: (frende_db_[a-z_]+)", (REPO / "roles" / "frende_db" / "vars" / "main.yml").read_text())
AWX_COLLECTION = REPO / ".venv" / "lib" / "python3.11" / "site-packages" / "ansible_collections" / "awx" / "awx"


def text(path):
    return path.read_text(encoding="utf-8")


def ids(paths):
    return [str(p.relative_to(REPO)) for p in paths]


def test_every_playbook_has_a_page_and_the_runbook_maps_every_section_of_the_security_document():
    assert PLAYBOOKS, "no playbooks?"
    for name in PLAYBOOKS:
        page = REPO / "docs" / "playbooks" / (name + ".md")
        assert page.is_file(), "docs/playbooks/%s.md is missing" % name
        for heading in ("## What it does", "## Variables", "## Example run", "## What failure looks like"):
            assert heading in text(page), "%s has no '%s'" % (page.name, heading)
    runbook = text(REPO / "docs" / "runbook.md")
    for section in ("SSL/TLS Encryption", "Connection Pooling", "Database User Management", "Access Controls",
                    "Initial Setup", "Verify Setup", "Environment Variables", "Automated Backups", "Manual Backup",
                    "Backup Verification", "Health Checks", "Database Monitoring", "Automated Maintenance",
                    "Password Management", "Network Security", "Access Control", "Data Protection",
                    "SSL Connection Errors", "Connection Pool Exhaustion", "Backup Failures", "Log Locations",
                    "Database Corruption", "Complete System Failure", "Recovery Time Objectives", "Compliance",
                    "Password rotation"):
        assert section in runbook, section


def table_rows(markdown):
    """(names, default cell) of markdown table rows whose first cell holds backticked names."""
    for line in markdown.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) >= 3 and cells[0].startswith("`"):
            yield re.findall(r"`([^`]+)`", cells[0]), cells[1]


@pytest.mark.parametrize("page", sorted((REPO / "docs" / "playbooks").glob("*.md")), ids=lambda p: p.name)
def test_documented_defaults_are_the_real_ones(page):
    known = dict(ROLE_DEFAULTS, **CONFIGURE_VARS)
    checked = 0
    for names, cell in table_rows(text(page)):
        value = re.fullmatch(r"`(.*)`", cell)
        for name in names:
            if not name.startswith("frende_db_") or value is None:
                continue
            assert name in known, "%s documents %s, which is not a variable" % (page.name, name)
            documented = yaml.safe_load(value.group(1).replace("\\|", "|"))
            assert documented == known[name], "%s: %s defaults to %r, not %r" % (page.name, name, known[name], documented)
            checked += 1
    if page.stem in ("setup", "awx_configure", "backup"):
        assert checked >= 5, "%s: only %d defaults found" % (page.name, checked)


@pytest.mark.parametrize("doc", DOCS, ids=ids(DOCS))
def test_variable_and_job_template_names_exist(doc):
    known = (set(ROLE_DEFAULTS) | set(CONFIGURE_VARS) | set(DEFS) | {"frende_db_" + m[len("frende_db_"):] for m in MODULES}
             | set(METRIC_HELP))  # the gauges the jobs write
    body = text(doc)
    for name in set(re.findall(r"\bfrende_db_[a-z0-9_]+\b", body)):
        assert name in known, "%s names %s, which does not exist" % (doc.name, name)
    schedules = DEFS["frende_db_awx_schedules"] + DEFS["frende_db_awx_controller_schedules"]
    objects = ({t["name"] for t in DEFS["frende_db_awx_job_templates"]} | {s["name"] for s in schedules}
               | {v for v in CONFIGURE_VARS.values() if isinstance(v, str) and v.startswith("Frende database: ")})
    for name in set(re.findall(r"Frende database: [a-z ]+[a-z]", body)):
        assert name in objects, "%s names the AWX object %r, which awx_configure.yml does not create" % (doc.name, name)


@pytest.mark.parametrize("doc", DOCS, ids=ids(DOCS))
def test_links_resolve(doc):
    for target in re.findall(r"\]\(([^)#\s]+)", text(doc)):
        if re.match(r"[a-z]+:", target):
            continue
        assert (doc.parent / target).exists(), "%s links to %s, which does not exist" % (doc.name, target)


def code_corpus():
    """The texts failure messages come from, with string joins and line breaks flattened."""
    paths = [p for d in ("roles", "plugins", "playbooks") for p in (REPO / d).rglob("*") if p.is_file()
             and p.suffix in (".py", ".yml", ".j2", "") and "__pycache__" not in p.parts]
    paths += [AWX_COLLECTION / "plugins" / "module_utils" / "controller_api.py",
              REPO / ".venv" / "lib" / "python3.11" / "site-packages" / "ansible" / "executor" / "task_result.py"]
    flat = []
    for path in paths:
        body = path.read_text(encoding="utf-8", errors="replace")
        body = re.sub(r"[\"']\s*\n\s*[\"']", "", body)          # "abc "\n    "def" -> "abc def"
        body = re.sub(r"\n\s*(#\s*)?", " ", body)                # folded YAML and wrapped lines
        body = re.sub(r"\{\{\s*'|'\s*~\s*|~\s*'|'\s*\}\}", "", body)   # Jinja: {{ 'the key ' ~ path
        flat.append(re.sub(r"\s+", " ", body))
    return "\n".join(flat)


# Parts of a quoted message that are values of one run, not text of the code.
# " of database <name>" is an optional piece the code adds with its own %s.
VALUE = re.compile(r"frende-<[^>]+>|<[^>]+>|\.\.\.|%\w|\{\{.*?\}\}|\{[0-9]\}|"
                   r"/[\w./-]*|frende-\d{8}T\d{6}Z|frende[-_][a-z_]+|\b\d[\d.]*\b|[a-z]+://\S+|"
                   r"\b(?:un)?healthy\b|\bdegraded\b| of database \w+|\(\w+\)")


def failure_quotes(markdown):
    section = re.search(r"## What failure looks like\n(.*?)(\n## |\Z)", markdown, re.S)
    if section is None:
        return []
    joined = re.sub(r"\n\s*", " ", section.group(1))
    return [q for q in re.findall(r"`([^`]*)`", joined) if len(q) >= 30 and " " in q]


@pytest.mark.parametrize("page", sorted((REPO / "docs" / "playbooks").glob("*.md")), ids=lambda p: p.name)
def test_quoted_failure_messages_come_from_the_code(page):
    corpus = code_corpus()
    quotes = failure_quotes(text(page))
    assert quotes, "%s quotes no failure message" % page.name
    for quote in quotes:
        for fragment in VALUE.split(quote):
            fragment = fragment.strip(" .:;,()'\"")
            if len(fragment) >= 12:
                assert fragment in corpus, "%s quotes %r; the code has no %r" % (page.name, quote, fragment)


def test_ansible_doc_shows_every_module_and_the_role_from_the_installed_collection(installed_collections):
    modules_page = text(REPO / "docs" / "modules.md")
    env = {"ANSIBLE_COLLECTIONS_PATH": str(installed_collections)}
    for module in MODULES:
        assert "`frende.db.%s`" % module in modules_page, module
        shown = run([VENV_BIN / "ansible-doc", "-t", "module", "frende.db." + module], env=env).stdout
        assert "frende.db.%s" % module in shown and "EXAMPLES" in shown
    role = run([VENV_BIN / "ansible-doc", "-t", "role", "frende.db.frende_db"], env=env).stdout
    assert "frende_db_cron_enabled" in role
    assert ansible.__file__  # ansible-doc is the venv's: the docs speak of its ansible-core
