# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How a value from the spec is written into an engine's configuration, one word at a time. Pure.

The model already limits every field to safe characters; these functions are the renderers'
own defence: a value is escaped the way the engine's grammar allows, and one that cannot be
written as exactly one word is refused (``UnsafeValue``, naming the field), never written.

keepalived (lib/parser.c): words are separated by blanks; ``#`` and ``!`` start a comment unless
escaped with a backslash or inside double quotes; ``"`` toggles quoting (it cannot be escaped);
``{`` and ``}`` outside quotes open and close blocks; ``$NAME`` is replaced by a definition
(``$_PWD``, ``$_INSTANCE``... always exist); a backslash at the end of a line continues it.

HAProxy (configuration manual, 2.2 "Quoting and escaping"): words are separated by blanks;
``#`` starts a comment; ``'`` and ``"`` quote; a backslash escapes the next character. Inside
the parentheses of a sample fetch (``req.cook(NAME)``) a second parser splits on ``,`` and
``)`` and reads quotes again, so names written there are limited to plain token characters.
"""

from __future__ import annotations

import re

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import UnsafeValue

_PRINTABLE = re.compile(r"[!-~]+", re.ASCII)
_KEEPALIVED_UNSAFE = re.compile(r'["{}\\$]')
_KEEPALIVED_QUOTED_UNSAFE = re.compile(r'["\\$]')
_HAPROXY_ESCAPE = re.compile(r"""([\\'"#])""")
_SAMPLE_ARG = re.compile(r"[A-Za-z0-9!$%&*+.^_`|~-]+", re.ASCII)


def _refuse(value, where, engine, why):
    shown = value if len(value) <= 40 else value[:37] + "..."
    raise UnsafeValue("%s: %r cannot be written into %s as one word: %s. Nothing was written; fix the spec." % (where, shown, engine, why))


def _printable(value, where, engine, spaces=False):
    if not isinstance(value, str) or not value:
        raise UnsafeValue("%s: an empty or missing value cannot be written into %s. Nothing was written; fix the spec." % (where, engine))
    text = value.replace(" ", "") if spaces else value
    if text and not _PRINTABLE.fullmatch(text):
        _refuse(value, where, engine, "only printable ASCII characters can be, without spaces or control characters")


def keepalived_word(value, where):
    """``value`` as one keepalived word: comment characters escaped; quotes, braces, ``$`` and backslashes refused."""
    _printable(value, where, "keepalived.conf")
    if _KEEPALIVED_UNSAFE.search(value):
        _refuse(value, where, "keepalived.conf", 'keepalived reads ", {, }, $ and \\ as syntax')
    return value.replace("#", "\\#").replace("!", "\\!")


def keepalived_quoted(value, where):
    """``value`` inside a keepalived double-quoted string (spaces allowed; quotes, ``$`` and backslashes refused)."""
    _printable(value, where, "keepalived.conf", spaces=True)
    if _KEEPALIVED_QUOTED_UNSAFE.search(value):
        _refuse(value, where, "keepalived.conf", 'keepalived reads ", $ and \\ as syntax inside quotes')
    return value


def haproxy_word(value, where):
    """``value`` as one HAProxy word: backslash, quotes and ``#`` escaped with a backslash."""
    _printable(value, where, "haproxy.cfg")
    return _HAPROXY_ESCAPE.sub(r"\\\1", value)


def haproxy_sample_arg(value, where):
    """``value`` as the argument of a sample fetch (``req.cook(NAME)``): plain token characters only."""
    _printable(value, where, "haproxy.cfg")
    if not _SAMPLE_ARG.fullmatch(value):
        _refuse(value, where, "haproxy.cfg", "a sample fetch argument takes letters, digits and !$%&*+.^_`|~- only")
    return value


def comment_word(value, where, engine):
    """``value`` inside a comment line: any printable ASCII word (a line break would end the comment)."""
    _printable(value, where, engine)
    return value
