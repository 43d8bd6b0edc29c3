"""Unit tests import the collection as ansible_collections.frende.db via build/collections."""

import sys

# Under `ansible-test units` its collection loader already serves the copy under test.
if "ansible_pytest_collections" not in sys.modules:
    from tests.support.playbook import collection_path

    sys.path.insert(0, str(collection_path()))
