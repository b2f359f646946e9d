"""The collection builds, installs from its tarball, and ansible-doc documents every plugin.

This is what a user of the released collection gets: only the files the tarball carries,
found through a collections path that holds nothing but the installed collection (and the
collections bundled with the `ansible` package, as they are).
"""

import ast
import shutil
import dataclasses
import json
import tarfile
from pathlib import Path

import pytest
import yaml

from .tools import REPO_ROOT, collection_files, expect_success, run, tool, tool_env

NAMESPACE, NAME = "lbkit", "loadbalancer"
FQCN_PREFIX = f"{NAMESPACE}.{NAME}."
PLUGINS = REPO_ROOT / "plugins"

# Plugin folders whose files are one documented plugin each, and their ansible-doc type.
# (This collection keeps one filter per file, documented in it, named as the filter.)
DOC_TYPES = {
    "modules": "module",
    "filter": "filter",
    "become": "become",
    "cache": "cache",
    "callback": "callback",
    "cliconf": "cliconf",
    "connection": "connection",
    "httpapi": "httpapi",
    "inventory": "inventory",
    "lookup": "lookup",
    "netconf": "netconf",
    "shell": "shell",
    "strategy": "strategy",
    "vars": "vars",
}


def plugin_names(folder):
    """Names of the plugins in plugins/<folder> (no packages, no private helpers)."""
    directory = PLUGINS / folder
    if not directory.is_dir():
        return []
    return sorted(p.stem for p in directory.glob("*.py") if not p.stem.startswith("_"))


def documented_plugins():
    """(ansible-doc type, name) of every plugin a user can look up.

    An action plugin is documented by the module of the same name (the action runs on the
    controller, the module file carries DOCUMENTATION), so ansible-doc looks it up as a
    module; one without such a module has no documentation, and its case fails.
    """
    found = [(doc_type, name) for folder, doc_type in DOC_TYPES.items() for name in plugin_names(folder)]
    modules = set(plugin_names("modules"))
    found += [("module", name) for name in plugin_names("action") if name not in modules]
    return found


def short_description(doc_type, name):
    """short_description from the plugin's DOCUMENTATION in the source tree, or None."""
    folder = "modules" if doc_type == "module" else doc_type
    source = PLUGINS / folder / f"{name}.py"
    if not source.is_file():
        return None
    for node in ast.parse(source.read_text(encoding="utf-8")).body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                and any(getattr(target, "id", None) == "DOCUMENTATION" for target in node.targets)):
            return (yaml.safe_load(node.value.value) or {}).get("short_description")
    return None


@dataclasses.dataclass(frozen=True)
class Installed:
    """The built tarball, the installed collection, and how to run ansible-doc against it."""

    tarball: Path
    root: Path
    cwd: Path
    env: dict = dataclasses.field(repr=False)

    def ansible_doc(self, *args):
        """Run ansible-doc against the installed collection (and the bundled ones)."""
        return run([tool("ansible-doc"), *args], cwd=self.cwd, env=self.env)


@pytest.fixture(name="installed", scope="module")
def fixture_installed(tmp_path_factory):
    """Build the collection from the working tree, install the tarball into a clean path."""
    base = tmp_path_factory.mktemp("build")
    dist, collections = base / "dist", base / "collections"
    env = tool_env(ANSIBLE_COLLECTIONS_PATH=str(collections))
    built = run([tool("ansible-galaxy"), "collection", "build", "--output-path", dist, REPO_ROOT],
                cwd=base, env=env)
    expect_success(built)
    tarballs = list(dist.glob(f"{NAMESPACE}-{NAME}-*.tar.gz"))
    assert len(tarballs) == 1, f"expected one tarball in {dist}, found {tarballs}\n{built.stdout}"
    # --offline --no-deps: Galaxy is unreachable; the one dependency (ansible.netcommon) comes
    # with the ansible package, as on the users' controllers.
    installed = run([tool("ansible-galaxy"), "collection", "install", "--offline", "--no-deps",
                     "-p", collections, tarballs[0]], cwd=base, env=env)
    expect_success(installed)
    root = collections / "ansible_collections" / NAMESPACE / NAME
    assert (root / "MANIFEST.json").is_file(), installed.stdout
    return Installed(tarball=tarballs[0], root=root, cwd=base, env=env)


@pytest.mark.build
def test_tarball_holds_only_repository_files(installed):
    """build_ignore keeps local state (.venv, .cache, .ansible, caches) out of the tarball."""
    with tarfile.open(installed.tarball) as tar:
        members = {m.name for m in tar.getmembers() if not m.isdir()}
    stray = sorted(members - set(collection_files()) - {"MANIFEST.json", "FILES.json"})
    assert not stray, f"files in the tarball that git does not hold (add them to build_ignore): {stray[:50]}"


@pytest.mark.build
@pytest.mark.parametrize(("doc_type", "name"), documented_plugins(), ids=lambda value: value)
def test_ansible_doc_documents_installed_plugin(installed, doc_type, name):
    """ansible-doc renders the plugin from the installed collection, short description included."""
    fqcn = FQCN_PREFIX + name
    argv = ["-t", doc_type, fqcn]
    hint = ("" if doc_type != "module" or (PLUGINS / "modules" / f"{name}.py").is_file()
            else f"\nthe action plugin {name} needs plugins/modules/{name}.py carrying its DOCUMENTATION")

    text = installed.ansible_doc(*argv)
    expect_success(text, hint=hint)
    assert str(installed.root) in text.stdout, (
        f"ansible-doc did not read {fqcn} from the installed collection:\n{text.stdout[:2000]}{hint}")

    as_json = installed.ansible_doc(*argv, "--json")
    expect_success(as_json, hint=hint)
    shown = json.loads(as_json.stdout)[fqcn]["doc"].get("short_description")
    assert shown, f"{fqcn} has no short_description"
    expected = short_description(doc_type, name)
    if expected is not None:
        assert shown == expected

    # The listing is where a user reads the short description next to the name (the text
    # form cuts it at the terminal width, the JSON form does not).
    listed = installed.ansible_doc("-t", doc_type, "-l", "--json", f"{NAMESPACE}.{NAME}")
    expect_success(listed)
    assert json.loads(listed.stdout).get(fqcn) == shown, listed.stdout


@pytest.fixture(name="example", scope="module")
def fixture_example(installed, tmp_path_factory):
    """Run ansible-playbook as a GitOps repository would: from the installed collection's example
    inventory, with its ansible.cfg, the installed collection and the bundled ones only."""
    where = installed.root / "inventory" / "example"
    home = tmp_path_factory.mktemp("ansible-home")
    env = tool_env(ANSIBLE_CONFIG=str(where / "ansible.cfg"), ANSIBLE_HOME=str(home),
                   ANSIBLE_COLLECTIONS_PATH=installed.env["ANSIBLE_COLLECTIONS_PATH"], LBKIT_VAULT_PASSWORD="lbkit-example")

    def playbook(*args):
        return run([tool("ansible-playbook"), "-i", "hosts.yml", *args], cwd=where, env=env)
    return playbook


@pytest.mark.build
def test_example_inventory_validates_with_the_installed_collection(example):
    """lbkit.loadbalancer.validate from the tarball, on the example's vaulted spec (no host contacted)."""
    result = example("lbkit.loadbalancer.validate", "--vault-password-file", "./vault-password")
    expect_success(result)
    assert "lb1: the spec is valid: 3 virtual services, 6 real servers." in result.stdout


@pytest.mark.build
def test_site_playbook_resolves_in_the_installed_collection(example):
    """lbkit.loadbalancer.site parses, and its imports and roles resolve from the tarball.

    Nothing runs against the example's hosts: they are documentation addresses, and tests send
    no traffic off this machine. The appliance and real-server plays run in the lab and molecule.
    """
    expect_success(example("lbkit.loadbalancer.site", "--syntax-check"))
    listed = example("lbkit.loadbalancer.site", "--list-tasks")
    expect_success(listed)
    for play in ("Validate the lbkit spec", "Converge the appliances, backups first", "Prepare the real servers for the spec",
                 "Summarize the changes", "Send requests through every VIP"):
        assert "play #" in listed.stdout and play in listed.stdout, play
    assert "lbkit.loadbalancer.appliance : Converge the appliance to the spec" in listed.stdout
    assert "lbkit.loadbalancer.realserver : Find what this host serves in the spec" in listed.stdout


@pytest.mark.build
def test_execution_environment_definition_makes_a_build_context(installed, tmp_path):
    """ansible-builder accepts execution-environment.yml and puts the built collection in the context.

    `create` writes the build context only; building the image needs the base image's registry.
    """
    shutil.copy(REPO_ROOT / "execution-environment.yml", tmp_path)
    (tmp_path / "ee-build").mkdir()
    shutil.copy(installed.tarball, tmp_path / "ee-build")
    result = run([tool("ansible-builder"), "create", "-f", "execution-environment.yml", "-c", "context",
                  "--output-filename", "Containerfile"], cwd=tmp_path)
    expect_success(result)
    context = tmp_path / "context"
    assert (context / "_build" / "collections" / installed.tarball.name).is_file()
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert {"name": "/build/collections/lbkit-loadbalancer.tar.gz", "type": "file"} in requirements["collections"]
    assert "jsonschema" in (context / "_build" / "requirements.txt").read_text()
    steps = (context / "Containerfile").read_text().splitlines()
    rename = steps.index("RUN mv /build/collections/lbkit-loadbalancer-*.tar.gz /build/collections/lbkit-loadbalancer.tar.gz")
    install = next(i for i, line in enumerate(steps) if "ansible-galaxy collection install" in line)
    assert steps.index("COPY _build/collections/ /build/collections/") < rename < install
