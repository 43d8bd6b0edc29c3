# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""AWX's way of running a job template, without AWX: a private data directory
per job (project/, inventory/hosts as an inventory script, env/extravars with
the survey answers and AWX's job variables), each credential's injectors
rendered as AWX renders them (files written 0600 into env/, environment
variables, extra vars passed with -e @file), then ansible_runner.run() with
the runner settings AWX uses (suppress_env_files, no output to the console).

The definitions come from playbooks/vars/awx.yml, the file
playbooks/awx_configure.yml sends to AWX.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

import ansible_runner
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

REPO = Path(__file__).resolve().parents[3]
DEFINITIONS = REPO / "playbooks" / "vars" / "awx.yml"


class _Loader(yaml.SafeLoader):
    """YAML with Ansible's !unsafe tag (the AWX templates in the definitions)."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load_definitions():
    with open(DEFINITIONS, encoding="utf-8") as f:
        return yaml.load(f, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def _private_file(directory, data):
    fd, path = tempfile.mkstemp(dir=str(directory))
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(data)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    return path


def inject(credential_type, inputs, private_data_dir):
    """What AWX's CredentialType.inject_credential does: returns (env, cmdline args).

    File injectors are rendered into 0600 files in env/ and their paths exposed
    as tower.filename.<label>; env and extra_vars injectors are rendered with
    the inputs and those paths. A field without a value renders as empty, as in AWX.
    """
    sandbox = ImmutableSandboxedEnvironment()
    namespace = dict(inputs)
    filenames = {}
    for label, template in credential_type["injectors"].get("file", {}).items():
        path = _private_file(Path(private_data_dir) / "env", sandbox.from_string(template).render(**namespace))
        filenames[label.split(".", 1)[1]] = path
    namespace["tower"] = namespace["awx"] = {"filename": filenames}
    env = {name: sandbox.from_string(template).render(**namespace)
           for name, template in credential_type["injectors"].get("env", {}).items()}
    args = []
    extra_vars = {name: sandbox.from_string(template).render(**namespace)
                  for name, template in credential_type["injectors"].get("extra_vars", {}).items()}
    if extra_vars:
        args += ["-e", "@" + _private_file(Path(private_data_dir) / "env", json.dumps(extra_vars))]
    return env, args


class Job:
    """A finished job: the runner's result and its artifacts."""

    def __init__(self, template, runner, private_data_dir):
        self.template = template
        self.status = runner.status
        self.rc = runner.rc
        self.stats = runner.stats or {}
        self.private_data_dir = Path(private_data_dir)
        self.artifacts = self.private_data_dir / "artifacts" / str(runner.config.ident)
        self.events = [json.loads(p.read_text(encoding="utf-8"))
                       for p in sorted((self.artifacts / "job_events").glob("*.json"))]
        self.events.sort(key=lambda e: e.get("counter", 0))
        self.stdout = (self.artifacts / "stdout").read_text(encoding="utf-8")

    def event_stream(self):
        """Everything AWX keeps and shows of a job: its events and its output."""
        for path in sorted((self.artifacts / "job_events").glob("*.json")):
            yield path, path.read_text(encoding="utf-8")
        for name in ("stdout", "stderr"):
            if (self.artifacts / name).is_file():
                yield self.artifacts / name, (self.artifacts / name).read_text(encoding="utf-8")

    def task_results(self, event="runner_on_ok"):
        return [e["event_data"] for e in self.events if e["event"] == event]

    def changed_results(self):
        return [e for e in self.task_results() if e.get("res", {}).get("changed")]

    def failed_tasks(self):
        return [(e["event_data"].get("host"), e["event_data"].get("task")) for e in self.events
                if e["event"] in ("runner_on_failed", "runner_on_unreachable")
                and not e["event_data"].get("ignore_errors")]

    def summary(self):
        return "%s: status %s, rc %s, failed %s\n%s" % (
            self.template["name"], self.status, self.rc, self.failed_tasks(), self.stdout[-4000:])


class Controller:
    """Launches the job templates of the definitions file as AWX would.

    ``inventory`` is what AWX's inventory holds ({"groups": {name: [hosts]},
    "hostvars": {host: {...}}}); ``credentials`` maps the definitions'
    credential keys to their inputs; ``environment`` holds what the execution
    environment provides (collections path, connection settings of the hosts).
    """

    def __init__(self, base, inventory, credentials, environment):
        self.base = Path(base)
        self.definitions = load_definitions()
        self.types = {t["key"]: t for t in self.definitions["frende_db_awx_credential_types"]}
        self.templates = {t["playbook"]: t for t in self.definitions["frende_db_awx_job_templates"]}
        self.inventory = inventory
        self.credentials = credentials
        self.environment = environment
        self.jobs = []
        self._ids = itertools.count(1)

    def template(self, playbook):
        return self.templates[playbook]

    def _inventory_script(self, directory):
        data = {"all": {"children": sorted(self.inventory["groups"])},
                "_meta": {"hostvars": self.inventory["hostvars"]}}
        for group, hosts in self.inventory["groups"].items():
            data[group] = {"hosts": hosts, "vars": {}}
        path = directory / "hosts"
        path.write_text("#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint(%r)\n"
                        % json.dumps(data), encoding="utf-8")
        path.chmod(0o700)

    def launch(self, playbook, answers=None, extra_vars=None, credentials=None):
        """Run the job template of ``playbook``; ``answers`` to its survey (defaults otherwise)."""
        template = self.template(playbook)
        job_id = next(self._ids)
        private = self.base / ("job_%d" % job_id)
        for sub in ("project", "inventory", "env"):
            (private / sub).mkdir(parents=True, mode=0o700)
        shutil.copytree(REPO / "playbooks", private / "project" / "playbooks")
        self._inventory_script(private / "inventory")

        answers = dict(answers or {})
        survey = {}
        for question in template["survey"]:
            if question["variable"] in answers:
                survey[question["variable"]] = answers.pop(question["variable"])
            elif "default" in question:
                survey[question["variable"]] = question["default"]
            else:
                assert not question.get("required"), "the survey needs an answer for " + question["variable"]
        assert not answers, "not in the survey of %s: %s" % (template["name"], sorted(answers))
        extravars = dict(extra_vars or {}, **survey)
        extravars.update(awx_job_id=job_id, awx_job_template_name=template["name"], awx_job_launch_type="manual",
                         tower_job_id=job_id, tower_job_template_name=template["name"])
        (private / "env" / "extravars").write_text(json.dumps(extravars), encoding="utf-8")

        env, cmdline = dict(self.environment), []
        if template["become"]:
            cmdline.append("--become")
        for key in template["credentials"] if credentials is None else credentials:
            injected_env, args = inject(self.types[key], self.credentials[key], private)
            env.update(injected_env)
            cmdline += args

        runner = ansible_runner.run(private_data_dir=str(private), ident="job_%d" % job_id,
                                    playbook=template["playbook"], cmdline=" ".join(cmdline), envvars=env,
                                    suppress_env_files=True, quiet=True, settings={"suppress_ansible_output": True})
        job = Job(template, runner, private)
        self.jobs.append(job)
        return job
