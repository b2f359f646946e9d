"""win_realserver: the PowerShell module against its documentation, its name validation, and a
syntax check by a PowerShell parser (no pwsh can run here; see the README of the fixtures).
"""

import os
import re

import pytest
import yaml

from ansible_collections.lbkit.loadbalancer.plugins.modules import win_realserver

MODULES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "plugins", "modules")
PS1 = os.path.join(MODULES, "win_realserver.ps1")


def source():
    with open(PS1, encoding="utf-8") as handle:
        return handle.read()


def ps_value(text):
    text = text.strip()
    if text in ("$true", "$false"):
        return text == "$true"
    if text.startswith("@(") and text.endswith(")"):
        inner = text[2:-1].strip()
        return [ps_value(item) for item in inner.split(",")] if inner else []
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1]
    raise AssertionError("unexpected PowerShell value in the spec: %r" % text)


def ps_options():
    """The options of the module's $spec, one `name = @{ key = value; ... }` line each."""
    block = re.search(r"^\$spec = @\{\n    options = @\{\n(?P<body>.*?)\n    \}\n", source(), re.S | re.M)
    assert block, "win_realserver.ps1 has no `$spec = @{ options = @{ ... } }` block"
    options = {}
    for line in block.group("body").splitlines():
        match = re.match(r"^        (\w+) = @\{ (.*) \}$", line)
        assert match, "one option per line expected, got %r" % line
        options[match.group(1)] = dict((k.strip(), ps_value(v)) for k, v in (p.split("=", 1) for p in match.group(2).split(";")))
    return options


def test_powershell_spec_matches_the_documentation():
    documented = yaml.safe_load(win_realserver.DOCUMENTATION)["options"]
    spec = ps_options()
    assert sorted(spec) == sorted(documented)
    for name, doc in documented.items():
        ps = spec[name]
        assert ps["type"] == doc["type"], name
        assert ps.get("required", False) == doc.get("required", False), name
        assert ps.get("default") == doc.get("default"), name
        assert ps.get("choices") == doc.get("choices"), name
        assert ps.get("elements") == doc.get("elements"), name


def test_check_mode_is_declared_in_both_places():
    assert "supports_check_mode = $true" in source()
    attributes = yaml.safe_load(win_realserver.DOCUMENTATION)["attributes"]
    assert attributes["check_mode"]["support"] == "full"


def name_pattern():
    match = re.search(r"^\$namePattern = '(?P<pattern>[^']+)'$", source(), re.M)
    assert match, "win_realserver.ps1 defines no $namePattern"
    return re.compile(match.group("pattern"))


@pytest.mark.parametrize("name", ["Ethernet", "Ethernet 2", "lbkit-loopback", "vEthernet (Default Switch)", "NIC#1", "a", "LAN_1.2+x,y"])
def test_interface_names_windows_uses_pass(name):
    assert name_pattern().fullmatch(name)


@pytest.mark.parametrize("name", ["", "Eth*", "Ethernet?", "[Ee]thernet", "a'b", 'a"b', "a;b", "a$b", "trailing ", " leading", "a`b", "x" * 257])
def test_interface_names_with_wildcards_quotes_or_shell_characters_fail(name):
    assert not name_pattern().fullmatch(name)


def test_no_command_line_is_built_from_strings():
    text = source()
    for forbidden in ("Invoke-Expression", "iex ", "cmd.exe", "cmd /c", "Start-Process", "netsh", "devcon"):
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(("#", "//")))
        assert forbidden not in code, "%s appears in win_realserver.ps1" % forbidden


def test_module_header_is_what_ansible_needs():
    text = source()
    assert text.startswith("#!powershell\n")
    assert re.search(r"(?m)^#AnsibleRequires -CSharpUtil Ansible\.Basic$", text)
    assert re.search(r"(?m)^#AnsibleRequires -PowerShell Ansible\.ModuleUtils\.AddType$", text)
    assert "\r" not in text


def test_powershell_parser_finds_no_syntax_error():
    """tree-sitter's PowerShell grammar (PyPI tree-sitter, tree-sitter-powershell) parses the module."""
    tree_sitter = pytest.importorskip("tree_sitter", reason="add tree-sitter and tree-sitter-powershell to requirements-dev.txt")
    grammar = pytest.importorskip("tree_sitter_powershell", reason="add tree-sitter-powershell to requirements-dev.txt")
    parser = tree_sitter.Parser(tree_sitter.Language(grammar.language()))
    with open(PS1, "rb") as handle:
        data = handle.read()
    tree = parser.parse(data)
    problems = []

    def walk(node):
        if node.type == "ERROR" or node.is_missing:
            line, column = node.start_point
            problems.append("line %d column %d: %r" % (line + 1, column + 1, data[node.start_byte:node.end_byte][:80]))
        for child in node.children:
            walk(child)

    walk(tree.root_node)
    assert not problems, "PowerShell syntax errors in win_realserver.ps1:\n" + "\n".join(problems)
    # the grammar is not lenient: an unbalanced brace is reported
    broken = parser.parse(data.replace(b"if ($null -eq $interface) { return }", b"if ($null -eq $interface { return }", 1))
    assert broken.root_node.has_error
