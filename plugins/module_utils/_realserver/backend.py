# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The I/O edge of every real-server module: read files, run commands, carry out a plan.

It uses three things of AnsibleModule: ``run_command`` (argv lists only), ``atomic_move`` and
``get_bin_path``. Everything it does comes from the pure plan it is given.
"""

from __future__ import annotations

import os
import tempfile

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import HostCommandFailed, RealServerError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.actions import RemoveFile, WriteFile


def read_text(path):
    """The file's text, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None


def read_dir(directory, wanted):
    """{file name: content bytes} of the files in ``directory`` whose name ``wanted(name)`` accepts."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return {}
    out = {}
    for name in sorted(names):
        path = os.path.join(directory, name)
        if wanted(name) and os.path.isfile(path):
            with open(path, "rb") as handle:
                out[name] = handle.read()
    return out


def run(module, argv):
    """Run argv (never through a shell); return stdout, raise HostCommandFailed on a non-zero exit."""
    rc, out, err = module.run_command(argv)
    if rc != 0:
        raise HostCommandFailed(argv, rc, err or out)
    return out


def execute(module, actions, tools):
    """Carry out a plan in order: commands through run_command, files written atomically.

    Returns the descriptions of the actions done. On a failure the error says which action
    failed and which ran before it.
    """
    done = []
    for action in actions:
        try:
            if isinstance(action, WriteFile):
                _write(module, action)
            elif isinstance(action, RemoveFile):
                if os.path.lexists(action.path):
                    os.remove(action.path)
            else:
                run(module, action.argv(tools))
        except (OSError, HostCommandFailed) as exc:
            raise RealServerError("%s: %s (already done: %s)" % (action.describe(), exc, "; ".join(done) or "nothing"),
                                  **getattr(exc, "details", {})) from None
        done.append(action.describe())
    return done


def _write(module, action):
    directory = os.path.dirname(action.path)
    fd, temp = tempfile.mkstemp(prefix=".lbkit-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(action.content)
        module.atomic_move(temp, action.path, keep_dest_attrs=False)
    finally:
        if os.path.exists(temp):
            os.remove(temp)
    # after the move: atomic_move gives a new file the umask's mode and the caller's group
    os.chmod(action.path, action.mode)
    if os.geteuid() == 0:
        # launchd ignores a job file not owned by root; boot scripts expect root's files
        os.chown(action.path, 0, 0)


def find_tool(module, name):
    """Absolute path of a system tool (also in the sbin directories a become user may not have on PATH)."""
    path = module.get_bin_path(name, opt_dirs=["/sbin", "/usr/sbin"])
    if not path:
        raise RealServerError("%s not found on the host (looked in PATH, /sbin and /usr/sbin)." % name)
    return path
