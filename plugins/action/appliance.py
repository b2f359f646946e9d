# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The appliance module's controller side: read the TLS material the spec names, then run the module.

The spec names each layer-7 service's certificate and key as files on the controller. They are
read here (searched as ``copy`` searches ``src``: the role's and the playbook's ``files/``, then
the path as given; Vault-encrypted files decrypted) and handed to the module in its ``no_log``
``tls`` option, so the module writes them in the same apply that validates and rolls back.
"""

from __future__ import annotations

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.common.validation import check_type_dict
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    # the module this action runs (the LoadMaster's action reuses this class)
    MODULE = "lbkit.loadbalancer.appliance"

    def _read(self, path):
        found = self._find_needle("files", path)
        real = self._loader.get_real_file(found, decrypt=True)
        try:
            with open(real, "rb") as handle:
                return to_text(handle.read(), errors="surrogate_or_strict")
        finally:
            self._loader.cleanup_tmp_file(real)

    def tls_material(self, spec):
        """{service name: {certificate, key}} for every layer-7 service the spec gives TLS; problems as messages."""
        material, problems = {}, []
        if isinstance(spec, str):
            # as the module's dict option reads it (a JSON string from an ad-hoc command, say)
            try:
                spec = check_type_dict(spec)
            except TypeError:
                return material, problems
        services = spec.get("virtual_services") if isinstance(spec, dict) else None
        for index, vs in enumerate(services if isinstance(services, list) else []):
            layer7 = vs.get("layer7") if isinstance(vs, dict) else None
            tls = layer7.get("tls") if isinstance(layer7, dict) else None
            name = vs.get("name") if isinstance(vs, dict) else None
            if not isinstance(tls, dict) or not isinstance(name, str):
                continue  # the module reports a malformed spec with every error at once
            entry = {}
            for part in ("certificate", "key"):
                path = tls.get(part)
                if not isinstance(path, str) or not path:
                    continue
                try:
                    entry[part] = self._read(path)
                except AnsibleError as exc:
                    problems.append("/virtual_services/%d/layer7/tls/%s: %s cannot be read on the controller (%s)."
                                    " Fix: give the path of the PEM file, relative to the role's or playbook's files/ or absolute."
                                    % (index, part, path, to_text(exc)))
            if len(entry) == 2:
                material[name] = entry
        return material, problems

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = dict(self._task.args)
        if args.get("tls") is None:
            material, problems = self.tls_material(args.get("spec"))
            if problems:
                result.update(failed=True, changed=False, msg="\n".join(problems))
                return result
            args["tls"] = material
        result.update(self._execute_module(module_name=self.MODULE, module_args=args, task_vars=task_vars))
        return result
