"""execution-environment.yml: `ansible-builder create` makes a build context that holds everything.

No registry or container build here: the build context is what an image build
consumes, so its contents are checked, and ansible-builder's own introspection
(the step that runs inside the image build) is run on the installed collection.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import tarfile

import pytest
import yaml

from tests.ecosystem.conftest import REPO, VENV_BIN, load_yaml, run

EE_FILE = REPO / "execution-environment.yml"


def requirement_lines(path):
    """Non-comment lines of a pip or bindep file, whitespace-normalised."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = " ".join(line.split("#", 1)[0].split())
        if line:
            lines.append(line)
    return lines


def pinned(package):
    for line in (REPO / "requirements" / "test.txt").read_text().splitlines():
        if line.lower().startswith(package + "=="):
            return line.strip()
    raise AssertionError("%s is not pinned in requirements/test.txt" % package)


@pytest.fixture(scope="module")
def definition():
    return load_yaml(EE_FILE)


@pytest.fixture(scope="module")
def context(tmp_path_factory, definition, collection_tarball):
    """Run `ansible-builder create` on a copy of the definition with a freshly built tarball (as `make ee` does)."""
    project = tmp_path_factory.mktemp("ee-project")
    shutil.copy(EE_FILE, project)
    for key in ("galaxy", "python", "system"):
        ref = definition["dependencies"].get(key)
        if isinstance(ref, str):
            (project / ref).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / ref, project / ref)
    for entry in definition.get("additional_build_files", []):
        if fnmatch.fnmatch(collection_tarball.name, entry["src"].rsplit("/", 1)[-1]):
            (project / entry["src"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(collection_tarball, (project / entry["src"]).parent)
    out = tmp_path_factory.mktemp("ee") / "context"
    run([VENV_BIN / "ansible-builder", "create", "-f", project / EE_FILE.name, "-c", out,
         "--output-filename", "Containerfile"])
    return out


def test_definition_is_version_3_with_an_overridable_base_image(definition, context):
    assert definition["version"] == 3
    base = definition["images"]["base_image"]["name"]
    assert re.search(r'^ARG EE_BASE_IMAGE="%s"$' % re.escape(base), (context / "Containerfile").read_text(), re.M)


def test_ansible_core_and_runner_match_the_tested_pins(context):
    containerfile = (context / "Containerfile").read_text()
    refs = re.search(r'^ARG ANSIBLE_INSTALL_REFS="([^"]*)"', containerfile, re.M).group(1).split()
    assert sorted(refs) == sorted([pinned("ansible-core"), pinned("ansible-runner")])


def test_context_installs_the_collection_dependencies(context, galaxy):
    reqs = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    listed = {c["name"]: c.get("version") for c in reqs["collections"]}
    # The collection's dependencies, and awx.awx, which AWX users need for awx_configure.yml.
    assert listed == dict(galaxy["dependencies"], **{"awx.awx": ">=24.6.1"})
    assert "-r requirements.yml" in (context / "Containerfile").read_text()


def test_context_installs_the_collection_itself(context, collection_tarball):
    shipped = context / "_build" / "collections" / collection_tarball.name
    assert shipped.is_file(), "the build context lacks %s" % collection_tarball.name
    assert shipped.read_bytes() == collection_tarball.read_bytes()
    installs = [line for line in (context / "Containerfile").read_text().splitlines()
                if line.startswith("RUN ansible-galaxy collection install") and "/build/collections/" in line]
    assert len(installs) == 1, installs
    pattern = installs[0].split("/build/collections/", 1)[1].split()[0]
    assert fnmatch.fnmatch(collection_tarball.name, pattern), "the install step does not match the tarball"
    assert "--collections-path /usr/share/ansible/collections" in installs[0]


def test_collection_declares_its_ee_dependencies(collection_tarball):
    """The tarball in the context carries meta/execution-environment.yml and the files it names."""
    with tarfile.open(collection_tarball) as tar:
        meta = yaml.safe_load(tar.extractfile("meta/execution-environment.yml"))
        for key in ("python", "system"):
            name = meta["dependencies"][key]
            assert tar.extractfile(name).read() == (REPO / name).read_bytes()


def test_introspection_finds_every_python_and_system_requirement(tmp_path, installed_collections):
    """What the image build's builder stage runs over the installed collections."""
    pip_out, bindep_out = tmp_path / "requirements.txt", tmp_path / "bindep.txt"
    run([VENV_BIN / "ansible-builder", "introspect", installed_collections,
         "--write-pip", pip_out, "--write-bindep", bindep_out])
    meta = load_yaml(REPO / "meta" / "execution-environment.yml")["dependencies"]
    python = requirement_lines(REPO / meta["python"])
    system = requirement_lines(REPO / meta["system"])
    assert python and system
    found_pip = requirement_lines(pip_out)
    found_bindep = requirement_lines(bindep_out)
    for line in python:
        assert line in found_pip, "%s not installed by the image build: %s" % (line, found_pip)
    for line in system:
        assert line in found_bindep, "%s not installed by the image build: %s" % (line, found_bindep)
    assert "# from collection frende.db" in pip_out.read_text()


def test_every_system_package_has_a_debian_and_an_rpm_name():
    lines = requirement_lines(REPO / "meta" / "ee-bindep.txt")
    platforms = {}
    for line in lines:
        match = re.fullmatch(r"([a-z0-9][a-z0-9.+-]*) \[platform:(dpkg|rpm)\]", line)
        assert match, "bindep line %r: want '<package> [platform:dpkg|rpm]'" % line
        platforms.setdefault(match.group(2), []).append(match.group(1))
    assert len(platforms.get("dpkg", [])) == len(platforms.get("rpm", [])) > 0, platforms
