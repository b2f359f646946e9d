"""Stand-in for the pip bootstrap script (get-pip) that ansible-test downloads.

ansible-test fetches get-pip from ci-files.testing.ansible.com into its cache before it
creates a virtual environment; that host is not reachable from CI (only PyPI is). Its own
error message says the script may be saved in the cache by hand (ansible/ansible#77304),
so test_sanity.py copies this file there under get-pip's name, with a copy of pip in
``pip-bootstrap/`` beside it.

Like get-pip, it runs that pip to install the requested pip into the running interpreter
(an empty virtual environment), from PyPI or the configured index.
"""

import os
import sys

# get-pip options that are not pip options.
GET_PIP_ONLY_OPTIONS = ("--no-setuptools", "--no-wheel")


def main():
    """Install the pip that ansible-test asked for, with the pip copied beside this file."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(here, "pip-bootstrap"))
    from pip._internal.cli.main import main as pip_main  # pylint: disable=import-outside-toplevel

    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    sys.exit(pip_main(["install", "--upgrade", "--force-reinstall"] + args))


if __name__ == "__main__":
    main()
