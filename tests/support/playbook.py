"""Run frende.db modules through Ansible itself, the way operators do.

Each call writes a one-task playbook, runs ``ansible-playbook`` against
localhost with the collection on the collections path, and returns the task
result parsed from the ansible.posix.json callback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"
COLLECTIONS = BUILD / "collections"
VENV_BIN = Path(sys.executable).parent


def collection_path():
    """build/collections/ansible_collections/frende/db -> the repository (the collection root)."""
    link = COLLECTIONS / "ansible_collections" / "frende" / "db"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO, target_is_directory=True)
    return COLLECTIONS


def ansible_env(extra=None):
    env = dict(os.environ)
    env.update(
        # FRENDE_EXTRA_COLLECTIONS_PATH: where a test host without the venv finds ansible.posix & co.
        ANSIBLE_COLLECTIONS_PATH=os.pathsep.join(
            [str(collection_path())] + [p for p in env.get("FRENDE_EXTRA_COLLECTIONS_PATH", "").split(os.pathsep) if p]),
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="false",
        PATH=str(VENV_BIN) + os.pathsep + env.get("PATH", ""),
    )
    env.update(extra or {})
    return env


class PlaybookResult:
    def __init__(self, proc, result):
        self.proc = proc
        self.result = result
        self.output = proc.stdout + proc.stderr

    def __getitem__(self, key):
        return self.result[key]

    def get(self, key, default=None):
        return self.result.get(key, default)

    @property
    def failed(self):
        return bool(self.result.get("failed"))

    @property
    def changed(self):
        return bool(self.result.get("changed"))

    def __repr__(self):
        return "PlaybookResult(%r)" % (self.result,)


def write_playbook(directory, tasks, play_vars=None):
    play = dict(
        hosts="localhost",
        connection="local",
        gather_facts=False,
        vars=dict({"ansible_python_interpreter": sys.executable}, **(play_vars or {})),
        tasks=tasks,
    )
    path = Path(directory) / "play.yml"
    path.write_text(json.dumps([play], indent=1))  # JSON is YAML
    return path


def run_tasks(tasks, check=False, diff=False, verbosity=0, env=None, json_output=True, play_vars=None):
    """Run tasks on localhost; returns (CompletedProcess, list of task results)."""
    with tempfile.TemporaryDirectory(prefix="frende-play-") as tmp:
        book = write_playbook(tmp, tasks, play_vars)
        cmd = [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(book)]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        extra = {"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"} if json_output else {}
        extra.update(env or {})
        # check=False: a failed play is a result the caller inspects, not an error here.
        proc = subprocess.run(cmd, capture_output=True, text=True, env=ansible_env(extra), cwd=tmp, check=False)
    results = []
    if json_output:
        start = proc.stdout.find("{")
        if start < 0:
            raise AssertionError("ansible-playbook printed no JSON:\n%s\n%s" % (proc.stdout, proc.stderr))
        doc = json.loads(proc.stdout[start:])
        for play in doc["plays"]:
            for task in play["tasks"]:
                results.append(task["hosts"]["localhost"])
    return proc, results


def run_module(module, args, check=False, diff=False, verbosity=0, env=None):
    """One module call through ansible-playbook; returns a PlaybookResult (failures included)."""
    fqcn = module if "." in module else "frende.db." + module
    task = {"name": "run " + fqcn, fqcn: args, "ignore_errors": True}
    proc, results = run_tasks([task], check=check, diff=diff, verbosity=verbosity, env=env)
    return PlaybookResult(proc, results[0])


def run_module_verbose(module, args, check=False, diff=True, env=None):
    """The same call with -vvv and the default callback: the text an operator would see."""
    fqcn = module if "." in module else "frende.db." + module
    task = {"name": "run " + fqcn, fqcn: args, "ignore_errors": True}
    proc = run_tasks([task], check=check, diff=diff, verbosity=3, env=env, json_output=False)[0]
    return proc.stdout + proc.stderr
