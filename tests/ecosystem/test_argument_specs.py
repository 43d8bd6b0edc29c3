"""Each role's meta/argument_specs.yml says what its defaults/main.yml does."""

from __future__ import annotations

import textwrap

import pytest

from tests.ecosystem.argument_specs import check_role
from tests.ecosystem.conftest import REPO

ROLES = sorted(p for p in (REPO / "roles").glob("*") if p.is_dir()) if (REPO / "roles").is_dir() else []


def make_role(base, name, defaults, specs):
    role = base / name
    for rel, text in (("defaults/main.yml", defaults), ("meta/argument_specs.yml", specs)):
        if text is not None:
            (role / rel).parent.mkdir(parents=True, exist_ok=True)
            (role / rel).write_text(textwrap.dedent(text))
    return role


GOOD_DEFAULTS = """\
    ---
    demo_port: 5432
    demo_name: demo
    demo_user: "{{ demo_name }}_app"
    demo_schemas: [public]
    demo_settings: {}
    demo_mode: strict
    __demo_internal: 1
    """

GOOD_SPECS = """\
    ---
    argument_specs:
      main:
        short_description: A demo role
        options:
          demo_port:
            type: int
            default: 5432
            description: Port.
          demo_name:
            type: str
            default: demo
            description: [Name, of the database.]
          demo_user:
            type: str
            default: "{{ demo_name }}_app"
            description: User.
          demo_schemas:
            type: list
            elements: str
            default: [public]
            description: Schemas.
          demo_settings:
            type: dict
            default: {}
            description: Settings.
            options:
              work_mem:
                type: str
                description: Per-sort memory.
          demo_mode:
            type: str
            choices: [strict, lax]
            default: strict
            description: Mode.
          demo_password:
            type: str
            required: true
            no_log: true
            description: Password.
    """


def test_a_consistent_role_passes(tmp_path):
    assert check_role(make_role(tmp_path, "good", GOOD_DEFAULTS, GOOD_SPECS)) == []


def test_a_broken_role_fails_with_every_disagreement_named(tmp_path):
    role = make_role(tmp_path, "broken", """\
        ---
        demo_port: 5432
        demo_name: demo
        demo_undocumented: true
        demo_version: 15
        demo_plain: x
        """, """\
        ---
        argument_specs:
          main:
            short_description: ""
            options:
              demo_port:
                type: int
                default: 5433
                description: Port.
              demo_name:
                type: str
                default: demo
              demo_version:
                type: str
                default: "15"
                description: Version.
              demo_plain:
                type: str
                description: No default here.
              demo_ghost:
                type: str
                default: boo
                description: Only in the spec.
              demo_mode:
                type: str
                choices: [strict, lax]
                default: loose
                description: Mode.
              demo_count:
                type: int
                default: "3"
                required: true
                description: Count.
              demo_settings:
                type: dict
                description: Settings.
                options:
                  work_mem:
                    type: str
        """)
    problems = check_role(role)
    expected = [
        "role broken entry point main has no short_description",
        "role broken entry point main: option demo_name has no description",
        "role broken entry point main: option demo_mode default 'loose' is not one of its choices ['strict', 'lax']",
        "role broken entry point main: option demo_count is required and has a default ('3'): one of them is wrong",
        "role broken entry point main: option demo_count has type int but its default '3' is a str",
        "role broken entry point main: option demo_settings option work_mem has no description",
        "role broken: demo_port defaults to 5432 in defaults/main.yml but to 5433 in meta/argument_specs.yml (main)",
        "role broken: demo_undocumented is in defaults/main.yml but not in meta/argument_specs.yml",
        "role broken: demo_version defaults to 15 in defaults/main.yml but to '15' in meta/argument_specs.yml (main)",
        "role broken: demo_plain has default 'x' in defaults/main.yml but none in meta/argument_specs.yml (main)",
        "role broken: demo_ghost has default 'boo' in meta/argument_specs.yml (main) but is not in defaults/main.yml,"
        " so the role never gets that value",
        "role broken: demo_mode has default 'loose' in meta/argument_specs.yml (main) but is not in defaults/main.yml,"
        " so the role never gets that value",
        "role broken: demo_count has default '3' in meta/argument_specs.yml (main) but is not in defaults/main.yml,"
        " so the role never gets that value",
    ]
    assert sorted(problems) == sorted(expected)


def test_a_role_without_argument_specs_fails(tmp_path):
    assert check_role(make_role(tmp_path, "bare", GOOD_DEFAULTS, None)) == ["role bare has no meta/argument_specs.yml"]


def test_a_spec_without_main_entry_point_fails(tmp_path):
    specs = GOOD_SPECS.replace("      main:", "      other:")
    assert "role nomain: meta/argument_specs.yml has no 'main' entry point" in check_role(
        make_role(tmp_path, "nomain", GOOD_DEFAULTS, specs))


@pytest.mark.skipif(not ROLES, reason="roles/ does not exist yet: no role to check")
@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_role_defaults_match_argument_specs(role):
    problems = check_role(role)
    assert not problems, "\n".join(problems)
