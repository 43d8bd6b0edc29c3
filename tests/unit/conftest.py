"""Unit tests import the collection as ansible_collections.frende.db via build/collections."""

import sys

from tests.support.playbook import collection_path

sys.path.insert(0, str(collection_path()))
