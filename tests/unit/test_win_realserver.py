"""win_realserver: the PowerShell module and its C# util, checked as text and through tree-sitter's
PowerShell grammar (no pwsh can run here, so nothing in this file runs the PowerShell).

What is checked: the module parses; its argument spec matches the documentation (aliases and the
deprecated alias included); its name validation against valid and invalid names; the VIP rules
it carries are the Python table (`_net/addresses.py`), generated and current; check mode guards
only the apply loop, and only the apply changes the host; every step the plan makes has an apply
and a diff; the C# util is where Ansible looks for it and has what the module calls.
"""

import base64
import importlib.util
import ipaddress
import os
import re
import subprocess
import sys

import pytest
import tree_sitter
import tree_sitter_powershell
import yaml

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import LbkitError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._net.addresses import UNUSABLE
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._realserver.vips import parse_vips
from ansible_collections.lbkit.loadbalancer.plugins.modules import win_realserver

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PS1 = os.path.join(ROOT, "plugins", "modules", "win_realserver.ps1")
CS = os.path.join(ROOT, "plugins", "module_utils", "_Loopback.cs")
GENERATOR = os.path.join(ROOT, "scripts", "gen_vip_rules.py")
MOLECULE = os.path.join(ROOT, "molecule", "realserver_windows")
CS_UTIL = "ansible_collections.lbkit.loadbalancer.plugins.module_utils._Loopback"

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


def source():
    with open(PS1, encoding="utf-8") as handle:
        return handle.read()


def csharp():
    with open(CS, encoding="utf-8") as handle:
        return handle.read()


def tree():
    data = source().encode("utf-8")
    return data, PARSER.parse(data)


def text(data, node):
    return data[node.start_byte:node.end_byte].decode("utf-8")


def walk(node):
    yield node
    for child in node.children:
        yield from walk(child)


def ancestors(node):
    node = node.parent
    while node is not None:
        yield node
        node = node.parent


# --- PowerShell literals through the syntax tree ----------------------------------------------

# Grammar levels that wrap a single expression (precedence levels, a pipeline of one element).
_WRAPPERS = {
    "pipeline", "pipeline_chain", "logical_expression", "bitwise_expression", "comparison_expression",
    "additive_expression", "multiplicative_expression", "format_expression", "range_expression",
    "array_literal_expression", "unary_expression", "statement_list",
}


def ps_literal(data, node):
    """The Python value of a PowerShell literal: strings, integers, $true/$false/$null, @(), @{}."""
    named = [child for child in node.named_children if child.type != "comment"]
    if node.type == "array_literal_expression" and len(named) > 1:  # a, b, c
        return [ps_literal(data, child) for child in named]
    if node.type in _WRAPPERS and len(named) == 1:
        return ps_literal(data, named[0])
    raw = text(data, node)
    if node.type == "string_literal":
        if raw.startswith("'"):
            return raw[1:-1].replace("''", "'")
        assert "$" not in raw and "`" not in raw, "an expandable string where a literal was expected: %s" % raw
        return raw[1:-1]
    if node.type == "integer_literal":
        return int(raw)
    if node.type == "variable" and raw.lower() in ("$true", "$false", "$null"):
        return {"$true": True, "$false": False, "$null": None}[raw.lower()]
    if node.type == "array_expression":  # @( statement; statement ), each statement's items in turn
        items = []
        for child in named:
            for statement in (child.named_children if child.type == "statement_list" else [child]):
                value = ps_literal(data, statement)
                items.extend(value if isinstance(value, list) else [value])
        return items
    if node.type == "hash_literal_expression":
        out = {}
        for body in named:
            for entry in body.named_children:
                if entry.type != "hash_entry":
                    continue
                key, value = [child for child in entry.named_children if child.type != "comment"]
                out[text(data, key)] = ps_literal(data, value)
        return out
    raise AssertionError("not a PowerShell literal (%s): %s" % (node.type, raw[:80]))


def top_level_assignments():
    """{variable: its value's syntax node} for the module's top-level `$name = ...` statements."""
    data, parsed = tree()
    found = {}
    statements = [child for child in parsed.root_node.named_children if child.type == "statement_list"][0]
    for statement in statements.named_children:
        node = statement
        while node.type == "pipeline" and node.named_child_count == 1:
            node = node.named_children[0]
        if node.type != "assignment_expression":
            continue
        left, value = node.named_children[0], node.named_children[-1]
        found[text(data, left)] = (data, value, statement)
    return found


def ps_value(name):
    data, value, _statement = top_level_assignments()[name]
    return ps_literal(data, value)


def functions():
    """{function name: its function_statement node}."""
    data, parsed = tree()
    out = {}
    for node in walk(parsed.root_node):
        if node.type == "function_statement":
            name = [child for child in node.children if child.type == "function_name"][0]
            out[text(data, name)] = node
    return data, out


def enclosing_function(data, node):
    for parent in ancestors(node):
        if parent.type == "function_statement":
            return text(data, [child for child in parent.children if child.type == "function_name"][0])
    return None


def commands(data, node):
    """(command name, command node) of every command invoked under ``node``."""
    for child in walk(node):
        if child.type == "command":
            names = [c for c in child.children if c.type == "command_name"]
            if names:
                yield text(data, names[0]), child


def static_calls(data, node):
    """(type name, method name, node) of every `[Type]::Method(...)` under ``node``."""
    for child in walk(node):
        if child.type == "invokation_expression":
            types = [c for c in child.children if c.type == "type_literal"]
            members = [c for c in child.children if c.type == "member_name"]
            if types and members:
                yield text(data, types[0])[1:-1], text(data, members[0]), child


# --- the argument spec and the documentation ---------------------------------------------------

def ansible_basic_spec_keys():
    """The option keys Ansible.Basic accepts, from its source (specDefaults)."""
    import ansible.module_utils.csharp as csharp_utils
    with open(os.path.join(os.path.dirname(csharp_utils.__file__), "Ansible.Basic.cs"), encoding="utf-8") as handle:
        basic = handle.read()
    block = re.search(r"specDefaults = new Dictionary<string, List<object>>\(\)\s*\{(?P<body>.*?)\n\s*\};", basic, re.S)
    assert block, "Ansible.Basic.cs has no specDefaults table any more"
    return set(re.findall(r'\{ "(\w+)",', block.group("body")))


def test_powershell_spec_matches_the_documentation():
    documented = yaml.safe_load(win_realserver.DOCUMENTATION)["options"]
    spec = ps_value("$spec")
    assert spec["supports_check_mode"] is True
    options = spec["options"]
    assert sorted(options) == sorted(documented)
    known = ansible_basic_spec_keys()
    for name, doc in documented.items():
        ps = options[name]
        assert set(ps) <= known, "%s: keys Ansible.Basic does not know: %s" % (name, set(ps) - known)
        assert ps["type"] == doc["type"], name
        assert ps.get("required", False) == doc.get("required", False), name
        assert ps.get("default") == doc.get("default"), name
        assert ps.get("choices") == doc.get("choices"), name
        assert ps.get("elements") == doc.get("elements"), name
        assert ps.get("aliases", []) == doc.get("aliases", []), name
        for deprecated in ps.get("deprecated_aliases", []):
            # Ansible.Basic warns only for an alias it maps, and wants a version or a date
            assert deprecated["name"] in ps["aliases"], name
            assert deprecated["collection_name"] == "lbkit.loadbalancer", name
            assert "version" in deprecated and "date" not in deprecated, name
            description = " ".join(doc["description"])
            assert "O(%s)" % deprecated["name"] in description and "deprecated" in description, name
            assert deprecated["version"] in description, name


def test_nic_is_a_deprecated_alias_of_interfaces_until_0_3_0():
    interfaces = ps_value("$spec")["options"]["interfaces"]
    assert interfaces["aliases"] == ["nic"]
    assert interfaces["deprecated_aliases"] == [{"name": "nic", "version": "0.3.0", "collection_name": "lbkit.loadbalancer"}]
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    current = tuple(int(part) for part in galaxy["version"].split("."))
    assert current < (0, 3, 0), "nic was to be removed in 0.3.0: remove the alias"


def test_messages_name_interfaces_not_nic():
    data, parsed = tree()
    for node in walk(parsed.root_node):
        if node.type == "string_literal" and re.search(r"\bnic\b", text(data, node)):
            # only the spec's alias entries may say nic
            assert text(data, node) == "'nic'", text(data, node)
            assert any(a.type == "hash_literal_expression" and "aliases" in text(data, a) for a in ancestors(node))


def test_check_mode_is_declared_in_both_places():
    assert ps_value("$spec")["supports_check_mode"] is True
    attributes = yaml.safe_load(win_realserver.DOCUMENTATION)["attributes"]
    assert attributes["check_mode"]["support"] == "full"


# --- names -------------------------------------------------------------------------------------

def name_pattern():
    return re.compile(ps_value("$namePattern"))


@pytest.mark.parametrize("name", ["Ethernet", "Ethernet 2", "lbkit-loopback", "vEthernet (Default Switch)", "NIC#1", "a", "LAN_1.2+x,y"])
def test_interface_names_windows_uses_pass(name):
    assert name_pattern().fullmatch(name)


@pytest.mark.parametrize("name", ["", "Eth*", "Ethernet?", "[Ee]thernet", "a'b", 'a"b', "a;b", "a$b", "trailing ", " leading", "a`b", "x" * 257])
def test_interface_names_with_wildcards_quotes_or_shell_characters_fail(name):
    assert not name_pattern().fullmatch(name)


def code_lines(text_, comment):
    return "\n".join(line for line in text_.splitlines() if not line.lstrip().startswith(comment))


def test_no_command_line_is_built_from_strings():
    code = code_lines(source(), "#")
    for forbidden in ("Invoke-Expression", "iex ", "cmd.exe", "cmd /c", "Start-Process", "netsh", "devcon", "& $"):
        assert forbidden not in code, "%s appears in win_realserver.ps1" % forbidden
    code = code_lines(csharp(), "//")
    for forbidden in ("Process.Start", "ProcessStartInfo", "cmd.exe", "netsh", "devcon"):
        assert forbidden not in code, "%s appears in _Loopback.cs" % forbidden


# --- the VIP rules: the Python table, generated into the PowerShell ----------------------------

def load_generator():
    spec = importlib.util.spec_from_file_location("gen_vip_rules", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_vip_rules_are_current():
    result = subprocess.run([sys.executable, GENERATOR, "--check"], capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert load_generator().render(source()) == source()


def test_generator_check_fails_on_a_stale_block_and_the_run_rewrites_it(tmp_path, capsys):
    generator = load_generator()
    stale = source().replace("description = 'a loopback address'", "description = 'a loopback'", 1)
    assert stale != source()
    copy = tmp_path / "win_realserver.ps1"
    copy.write_text(stale, encoding="utf-8")
    generator.MODULE_FILE = str(copy)
    assert generator.main(["--check"]) == 1
    assert copy.read_text(encoding="utf-8") == stale
    assert generator.main([]) == 0
    assert copy.read_text(encoding="utf-8") == source()
    assert generator.main(["--check"]) == 0
    assert "stale" in capsys.readouterr().out


def test_generator_writes_quotes_powershell_reads_back():
    generator = load_generator()
    assert generator.ps_string("it's") == "'it''s'"
    assert generator.ps_string("\u2019") == "'\u2019\u2019'"


def test_powershell_vip_rules_are_the_python_table():
    rules = ps_value("$vipRules")
    python = [(ipaddress.ip_network(network), description) for network, description in UNUSABLE]
    powershell = [(ipaddress.ip_network("%s/%d" % (rule["network"], rule["prefix"])), rule["description"]) for rule in rules]
    assert powershell == python
    assert all(sorted(rule) == ["description", "network", "prefix"] for rule in rules)


def test_vip_rules_sit_between_the_markers():
    generator = load_generator()
    _data, _value, statement = top_level_assignments()["$vipRules"]
    lines = source().splitlines()
    begin, end = lines.index(generator.BEGIN), lines.index(generator.END)
    assert begin < statement.start_point[0] and statement.end_point[0] < end


def test_vip_refusal_uses_the_table_and_the_python_message():
    data, defined = functions()
    request = defined["Get-Request"]
    assert "Get-VipRule" in [name for name, _node in commands(data, request)]
    rule = defined["Get-VipRule"]
    assert "$vipRules" in text(data, rule)
    refusals = [text(data, n) for n in walk(request) if n.type == "expandable_string_literal" and "a VIP must be" in text(data, n)]
    assert refusals == ['"vips[$index]: $address is $($rule.description); a VIP must be a unicast address clients can reach."']
    # the Python modules word it so (plugins/module_utils/_realserver/vips.py)
    network, description = UNUSABLE[1]
    address = ipaddress.ip_network(network)[1]
    with pytest.raises(LbkitError) as python:
        parse_vips([str(address)])
    rendered = refusals[0][1:-1].replace("$index", "0").replace("$($rule.description)", description).replace("$address", str(address))
    assert str(python.value) == rendered


def test_vips_are_documented_with_the_table():
    description = " ".join(yaml.safe_load(win_realserver.DOCUMENTATION)["options"]["vips"]["description"])
    documented = re.findall(r"C\(([0-9a-f:.]+/\d+)\)", description)
    assert documented == [network for network, _why in UNUSABLE]
    with open(os.path.join(ROOT, "docs", "realservers-unix-windows.md"), encoding="utf-8") as handle:
        guide = handle.read()
    section = guide.split("### The VIP rules\n", 1)[1].split("\n### ", 1)[0]
    assert re.findall(r"(?m)^\| `([0-9a-f:.]+/\d+)` \|", section) == [network for network, _why in UNUSABLE]


# --- read, plan, apply ---------------------------------------------------------------------------

def apply_guard():
    """The `if` whose condition reads CheckMode, and that condition's node."""
    data, parsed = tree()
    comments = [(n.start_byte, n.end_byte) for n in walk(parsed.root_node) if n.type == "comment"]
    hits = []
    for match in re.finditer(rb"(?i)checkmode", data):
        if any(start <= match.start() < end for start, end in comments):
            continue
        node = parsed.root_node.descendant_for_byte_range(match.start(), match.end())
        hits.append(node)
    return data, hits


def test_check_mode_is_read_only_by_the_apply_guard():
    data, hits = apply_guard()
    where = ["line %d: %s" % (n.start_point[0] + 1, text(data, n.parent)) for n in hits]
    assert len(hits) == 1, "CheckMode outside the apply guard:\n" + "\n".join(where)
    statements = [a for a in ancestors(hits[0]) if a.type == "if_statement"]
    assert statements, "CheckMode is read outside an if: " + where[0]
    guard = statements[0]
    assert text(data, guard).startswith("if (-not $module.CheckMode) {"), text(data, guard)[:80]
    assert not [c for c in guard.children if c.type in ("elseif_clauses", "elseif_clause", "else_clause")]
    assert enclosing_function(data, guard) is None, "the guard belongs in the module's main part"
    loops = [n for n in walk(guard) if n.type == "foreach_statement"]
    assert len(loops) == 1 and " in $plan.steps)" in text(data, loops[0]).split("{")[0]
    assert [name for name, _node in commands(data, guard)] == ["Invoke-Step"]


def test_no_check_mode_variable():
    assert not re.search(r"(?i)\$checkMode\b", code_lines(source(), "#"))


# Verbs of cmdlets that change something; of those, the ones that only build objects.
CHANGING_VERBS = {"New", "Set", "Remove", "Rename", "Install", "Uninstall", "Enable", "Disable", "Add", "Clear",
                  "Register", "Unregister", "Start", "Stop", "Restart", "Update", "Write", "Move", "Copy", "Reset"}
PURE_CMDLETS = {"New-Object", "Start-Sleep", "Set-StrictMode"}


def changing_functions():
    """The module's functions that change the host, directly or through another one."""
    data, defined = functions()

    def changes_directly(node):
        for name, _command in commands(data, node):
            if name not in defined and name.split("-")[0] in CHANGING_VERBS and name not in PURE_CMDLETS:
                return True
        return any(type_name.startswith("Lbkit.Loopback.") for type_name, _m, _n in static_calls(data, node))

    changing = {name for name, node in defined.items() if changes_directly(node)}
    grew = True
    while grew:
        grew = False
        for name, node in defined.items():
            if name not in changing and any(called in changing for called, _c in commands(data, node)):
                changing.add(name)
                grew = True
    return data, defined, changing


def test_only_the_apply_changes_the_host():
    data, defined, changing = changing_functions()
    assert changing == {"Invoke-Step", "Install-Loopback", "Set-Record", "Remove-Record"}
    data, parsed = tree()
    _d, hits = apply_guard()
    guard = [a for a in ancestors(hits[0]) if a.type == "if_statement"][0]
    for name, node in commands(data, parsed.root_node):
        is_change = name in changing or (name not in defined and name.split("-")[0] in CHANGING_VERBS and name not in PURE_CMDLETS)
        if not is_change:
            continue
        inside = enclosing_function(data, node)
        assert inside in changing or (inside is None and guard.start_byte <= node.start_byte < guard.end_byte), \
            "line %d: %s runs outside the apply" % (node.start_point[0] + 1, name)


def test_the_plan_reads_nothing():
    """New-Plan and everything it calls decide from the request and the facts only."""
    data, defined, _changing = changing_functions()
    allowed = {"Where-Object", "ForEach-Object", "Sort-Object", "Select-Object", "New-Object"}
    seen, todo = set(), ["New-Plan"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for called, node in commands(data, defined[name]):
            if called in defined:
                todo.append(called)
            else:
                assert called in allowed, "%s calls %s (line %d): the plan must not touch the host" % (name, called, node.start_point[0] + 1)
    assert "Read-HostFact" not in seen and "Invoke-Step" not in seen


def step_kinds():
    """The kinds New-Step is given, the kinds Invoke-Step applies, the kinds Get-StateAfter simulates."""
    data, defined = functions()
    made = set()
    for name, node in defined.items():
        for called, command in commands(data, node):
            if called == "New-Step":
                argument = [c for c in walk(command) if c.type == "string_literal"][0]
                made.add(ps_literal(data, argument))

    def cases(function):
        found = set()
        for node in walk(defined[function]):
            if node.type == "switch_clause_condition" and node.named_child_count:
                found.add(ps_literal(data, node.named_children[0]))
        return found

    return made, cases("Invoke-Step"), cases("Get-StateAfter")


def test_every_planned_step_has_an_apply():
    made, applied, simulated = step_kinds()
    assert made == applied
    assert simulated <= made
    # the steps that change what the diff shows are simulated; the others change nothing it shows
    assert made - simulated == {"disable_dhcp", "skip_as_source", "forget_record"}


def test_changes_and_diff_have_the_documented_shape():
    returned = yaml.safe_load(win_realserver.RETURN)
    assert returned["changes"]["elements"] == "dict"
    assert all(list(change) == ["action"] for change in returned["changes"]["sample"])
    assert "@{ action = $step.action }" in source()
    data, defined = functions()
    shapes = []
    for name in ("New-Plan", "Get-StateAfter"):
        for node in walk(defined[name]):
            if node.type == "hash_literal_expression" and "vips" in text(data, node) and "firewall" in text(data, node):
                keys = [text(data, e.named_children[0]) for e in node.named_children[0].named_children if e.type == "hash_entry"]
                shapes.append(sorted(keys))
    assert shapes == [["firewall", "loopback", "settings", "vips"]] * 2
    sample = returned["diff"]["sample"]
    assert sorted(sample["before"]) == sorted(sample["after"]) == ["firewall", "loopback", "settings", "vips"]


# --- the C# util -----------------------------------------------------------------------------------

def test_module_header_is_what_ansible_needs():
    text_ = source()
    assert text_.startswith("#!powershell\n")
    assert re.search(r"(?m)^#AnsibleRequires -CSharpUtil Ansible\.Basic$", text_)
    assert re.search(r"(?m)^#AnsibleRequires -CSharpUtil %s$" % re.escape(CS_UTIL), text_)
    # the C# is no longer compiled by the module itself
    assert "Ansible.ModuleUtils.AddType" not in text_
    assert "Add-CSharpType" not in text_ and "Add-Type" not in text_
    assert "DllImport" not in text_ and "namespace " not in text_ and "@'" not in text_
    assert "\r" not in text_


def test_ansible_finds_the_csharp_util_the_module_requires():
    """Ansible's own dependency scan of the module (what it sends to the host) includes _Loopback.cs."""
    from ansible.executor.powershell.module_manifest import PSModuleDepFinder
    finder = PSModuleDepFinder()
    finder.scan_module(source().encode("utf-8"), fqn="ansible_collections.lbkit.loadbalancer.plugins.modules.win_realserver")
    # the scan keeps each script base64-encoded, as it goes to the host
    scripts = {name: base64.b64decode(info.script) for name, info in finder.scripts.items()}
    assert scripts[CS_UTIL + ".cs"] == csharp().encode("utf-8")
    assert "Ansible.Basic.cs" in scripts


def test_csharp_util_has_what_the_module_calls():
    code = csharp()
    assert code.count("{") == code.count("}")
    depth = 0
    for char in re.sub(r'//[^\n]*|"(?:\\.|[^"\\])*"', "", code):
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    assert re.search(r"(?m)^namespace Lbkit\.Loopback$", code)
    data, parsed = tree()
    called = {(type_name, method) for type_name, method, _node in static_calls(data, parsed.root_node) if type_name.startswith("Lbkit.")}
    assert called == {("Lbkit.Loopback.Device", "Install"), ("Lbkit.Loopback.Device", "Remove")}
    assert re.search(r"public static class Device\b", code)
    assert re.search(r"public static bool Install\(string infPath, string hardwareId\)", code)
    assert re.search(r"public static void Remove\(string instanceId\)", code)
    # only System namespaces: nothing Ansible would have to resolve and send along
    assert re.findall(r"(?m)^using ([\w.]+);$", code) == ["System", "System.ComponentModel", "System.Runtime.InteropServices", "System.Text"]


# --- the PowerShell parses ---------------------------------------------------------------------------

def test_powershell_parser_finds_no_syntax_error():
    """tree-sitter's PowerShell grammar (PyPI tree-sitter, tree-sitter-powershell) parses the module."""
    data, parsed = tree()
    problems = []
    for node in walk(parsed.root_node):
        if node.type == "ERROR" or node.is_missing:
            line, column = node.start_point
            problems.append("line %d column %d: %r" % (line + 1, column + 1, data[node.start_byte:node.end_byte][:80]))
    assert not problems, "PowerShell syntax errors in win_realserver.ps1:\n" + "\n".join(problems)
    # the grammar is not lenient: an unbalanced brace is reported
    broken = PARSER.parse(data.replace(b"if ($null -eq $interface) { return }", b"if ($null -eq $interface { return }", 1))
    assert broken.root_node.has_error


# --- the Molecule scenario (run by hand against a Windows host) -------------------------------------

def test_molecule_scenario_uses_the_new_option_name():
    aliased = []
    for name in ("converge.yml", "verify.yml", "cleanup.yml"):
        with open(os.path.join(MOLECULE, name), encoding="utf-8") as handle:
            plays = yaml.safe_load(handle)
        for play in plays:
            for task in play["tasks"]:
                module = task.get("lbkit.loadbalancer.win_realserver")
                if module is not None and "nic" in module:
                    aliased.append((name, task["name"]))
    # one task checks the deprecated alias still works; every other one says interfaces
    assert len(aliased) == 1 and aliased[0][0] == "verify.yml" and "deprecated" in aliased[0][1], aliased


def test_empty_list_zone_ids_and_repeats_are_refused_as_python_refuses_them():
    text = source()
    assert "vips is empty: list at least one VIP (the virtual service's address)." in text
    assert "-not $text.Contains('%')" in text
    assert "is already listed as vips[$($vips.IndexOf($address))]; list each VIP once." in text
