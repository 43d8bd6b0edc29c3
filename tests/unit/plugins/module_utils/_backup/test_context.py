import os

from ansible_collections.frende.db.plugins.module_utils._backup.context import TOOL_VERSION


def test_tool_version_matches_galaxy_yml():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 5))
    with open(os.path.join(root, "galaxy.yml")) as handle:
        version = [line.split(":", 1)[1].strip() for line in handle if line.startswith("version:")][0]
    assert TOOL_VERSION == version
