# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one root of the collection's errors.

Every layer raises a subclass of ``LbkitError``; a module catches ``LbkitError`` once and hands
``exc.result()`` to ``fail_json``. ``result()`` is the message plus whatever the error carries
for the user (the spec errors with their paths, whether the last good configuration was
restored, the command that failed).
"""

from __future__ import annotations


class LbkitError(Exception):
    """A problem lbkit reports to the user: the message says what happened and how to fix it."""

    def __init__(self, message, **details):
        super(LbkitError, self).__init__(message)
        self.details = details

    def result(self):
        """What a module passes to ``fail_json``: ``msg`` and the error's details."""
        out = dict(self.details)
        out["msg"] = str(self)
        return out


class SpecInvalid(LbkitError):
    """The spec has one or more errors; ``errors`` lists every one (``SpecError``: path, message, fix)."""

    def __init__(self, errors):
        self.errors = list(errors)
        super(SpecInvalid, self).__init__(self.summary(), errors=[e.as_dict() for e in self.errors])

    def summary(self):
        count = len(self.errors)
        head = "the spec has %d error%s:" % (count, "" if count == 1 else "s")
        return "\n".join([head] + ["  " + str(e) for e in self.errors])


class HostCommandFailed(LbkitError):
    """A command on the host could not run or exited non-zero; the message quotes its output."""

    def __init__(self, argv, rc, output):
        self.argv = list(argv)
        self.rc = rc
        shown = " ".join(str(a) for a in self.argv)
        if rc is None:
            message = "'%s' could not run: %s" % (shown, output)
        else:
            message = "'%s' failed (exit %s): %s" % (shown, rc, (output or "no output").strip())
        super(HostCommandFailed, self).__init__(message, command=self.argv, rc=rc)


class HostOutputUnreadable(LbkitError):
    """A command's output is not what lbkit can read (a tool of another version, say)."""


class EngineRejected(LbkitError):
    """An engine's own checker refused a configuration lbkit wrote; the message quotes its reason."""


class ApplyFailed(LbkitError):
    """Applying a plan failed; ``restored`` tells whether the last good configuration is back and serving."""

    def __init__(self, message, restored):
        self.restored = restored
        super(ApplyFailed, self).__init__(message, restored=restored)


class RuntimeApiError(LbkitError):
    """A running engine's runtime interface refused a command or could not be reached."""


class NotFound(LbkitError):
    """Something the task names (a virtual service, a real server) is not in the spec."""


class WaitTimedOut(LbkitError):
    """A wait the task asked for ran out."""


class UnsafeValue(LbkitError):
    """A value cannot be written into an engine's configuration safely; the renderer refuses it."""


class RealServerError(LbkitError):
    """A real-server request lbkit cannot carry out; the message names the option and the fix."""


class NotImplementedOnPlatform(RealServerError):
    """The request is valid, but lbkit does not implement it on this platform."""
