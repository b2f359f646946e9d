# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host as the backends use it: commands as argv lists, and the files lbkit owns.

``Host`` needs two things of AnsibleModule, ``run_command`` and ``get_bin_path``, so the
backends are tested with a fake. A command that cannot run or exits non-zero raises
``HostCommandFailed`` quoting its output: no backend lets a failing command pass unnoticed.
"""

from __future__ import annotations

import os
import tempfile

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import HostCommandFailed
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._net import ip

# Where system tools live when a become user's PATH leaves the sbin directories out.
SBIN = ["/sbin", "/usr/sbin", "/usr/local/sbin"]


class Host(object):
    """Runs commands on the host through ``module`` (``run_command``, ``get_bin_path``)."""

    def __init__(self, module):
        self.module = module

    def which(self, name):
        """The absolute path of ``name``, or None."""
        return self.module.get_bin_path(name, opt_dirs=SBIN)

    def run(self, argv, check=True):
        """(rc, stdout, stderr) of ``argv`` (never through a shell); raises HostCommandFailed on a
        missing program, and on a non-zero exit when ``check``."""
        binary = self.which(argv[0])
        if binary is None:
            raise HostCommandFailed(argv, None, "%s is not installed on this host (looked in PATH and %s)." % (argv[0], ", ".join(SBIN)))
        rc, out, err = self.module.run_command([binary] + [str(a) for a in argv[1:]])
        if check and rc != 0:
            raise HostCommandFailed(argv, rc, err or out)
        return rc, out, err

    def links(self):
        """The host's links and addresses (``ip -json address show``)."""
        dummy, out, dummy = self.run(list(ip.ADDRESS_COMMAND))
        return ip.parse_links(out)


def read_text(path):
    """The file's text, or None when it does not exist."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write_beside(path, content, mode):
    """Write ``content`` to a new file beside ``path`` (same filesystem, for an atomic rename); its path."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".lbkit", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def replace_file(path, content, mode):
    """Put ``content`` at ``path`` atomically (None removes the file)."""
    if content is None:
        if os.path.lexists(path):
            os.unlink(path)
        return
    os.rename(write_beside(path, content, mode), path)
