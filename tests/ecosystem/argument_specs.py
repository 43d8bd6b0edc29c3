"""Compare a role's defaults/main.yml with its meta/argument_specs.yml.

ansible-core validates role input against meta/argument_specs.yml but takes
the values from defaults/main.yml; `ansible-doc -t role` shows the spec. When
the two disagree, the documentation lies. ``check_role`` lists every
disagreement as a sentence naming the variable.
"""

from __future__ import annotations

from pathlib import Path

import yaml

# Spec type -> Python types a default of that type may have. A Jinja template
# (a string with "{{") is accepted for every type: it is resolved at run time.
TYPES = {
    "str": (str,),
    "path": (str,),
    "raw": (object,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}


def _load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _described(spec):
    description = spec.get("description")
    if isinstance(description, list):
        return any(isinstance(d, str) and d.strip() for d in description)
    return isinstance(description, str) and bool(description.strip())


def _type_ok(kind, value):
    if isinstance(value, str) and "{{" in value:
        return True
    allowed = TYPES.get(kind)
    if allowed is None:
        return True  # types ansible-core adds later are not second-guessed here
    if isinstance(value, bool) and bool not in allowed:
        return False  # True is an int to Python, not to Ansible
    return isinstance(value, allowed)


def _check_options(options, where, problems):
    """Descriptions, types and choices of options and their suboptions."""
    for name, spec in (options or {}).items():
        spec = spec or {}
        label = "%s option %s" % (where, name)
        if not _described(spec):
            problems.append("%s has no description" % label)
        if "default" in spec:
            default = spec["default"]
            kind = spec.get("type", "str")
            if spec.get("required"):
                problems.append("%s is required and has a default (%r): one of them is wrong" % (label, default))
            if default is not None and not _type_ok(kind, default):
                problems.append("%s has type %s but its default %r is a %s" % (label, kind, default, type(default).__name__))
            if "choices" in spec and default is not None and not isinstance(default, list) and default not in spec["choices"]:
                problems.append("%s default %r is not one of its choices %r" % (label, default, spec["choices"]))
        _check_options(spec.get("options"), label, problems)


def check_role(role_dir):
    """Every disagreement between a role's defaults and its argument specs, as sentences."""
    role_dir = Path(role_dir)
    role = role_dir.name
    defaults_file = role_dir / "defaults" / "main.yml"
    spec_file = role_dir / "meta" / "argument_specs.yml"
    defaults = (_load(defaults_file) if defaults_file.is_file() else None) or {}
    if not spec_file.is_file():
        return ["role %s has no meta/argument_specs.yml" % role]
    entry_points = ((_load(spec_file) or {}).get("argument_specs")) or {}
    problems = []
    if "main" not in entry_points:
        problems.append("role %s: meta/argument_specs.yml has no 'main' entry point" % role)

    specs = {}  # option name -> (entry point, spec)
    for entry, body in entry_points.items():
        body = body or {}
        if not (isinstance(body.get("short_description"), str) and body["short_description"].strip()):
            problems.append("role %s entry point %s has no short_description" % (role, entry))
        _check_options(body.get("options"), "role %s entry point %s:" % (role, entry), problems)
        for name, spec in (body.get("options") or {}).items():
            specs.setdefault(name, (entry, spec or {}))

    for name, value in defaults.items():
        if name.startswith("__"):
            continue  # internal by convention; not part of the role's interface
        if name not in specs:
            problems.append("role %s: %s is in defaults/main.yml but not in meta/argument_specs.yml" % (role, name))
            continue
        entry, spec = specs[name]
        if "default" not in spec:
            problems.append("role %s: %s has default %r in defaults/main.yml but none in meta/argument_specs.yml (%s)"
                            % (role, name, value, entry))
        elif spec["default"] != value or type(spec["default"]) is not type(value):
            problems.append("role %s: %s defaults to %r in defaults/main.yml but to %r in meta/argument_specs.yml (%s)"
                            % (role, name, value, spec["default"], entry))

    for name, (entry, spec) in specs.items():
        if "default" in spec and name not in defaults:
            problems.append("role %s: %s has default %r in meta/argument_specs.yml (%s) but is not in defaults/main.yml,"
                            " so the role never gets that value" % (role, name, spec["default"], entry))
    return problems
