"""The alert rule tests import the collection (its duration_seconds filter) as ansible_collections.frende.db."""

import sys

from tests.support.playbook import collection_path

sys.path.insert(0, str(collection_path()))
