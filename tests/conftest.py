import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, "collections")
# collections/ansible_collections/lbkit/loadbalancer links back to the repository root. Ansible's
# collection loader, installed before any test imports the collection, serves both the plain
# imports of the tests and the plugins a template names (lbkit.loadbalancer.served), as a
# playbook run would.
sys.path.insert(0, COLLECTIONS)

from ansible.plugins.loader import init_plugin_loader  # noqa: E402 (after the path it needs)

init_plugin_loader([COLLECTIONS])
