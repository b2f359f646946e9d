import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# collections/ansible_collections/lbkit/loadbalancer links back to the repository root, so
# the collection's own import paths work in plain pytest, without Ansible's loader.
sys.path.insert(0, os.path.join(ROOT, "collections"))
