# -*- coding: utf-8 -*-
# Copyright: lbkit developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whole-spec validation on the controller: schema and rules, every error at once."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

from ansible_collections.lbkit.loadbalancer.plugins.module_utils._errors import SpecInvalid
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.errors import SpecError
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.model import check_spec
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.schema import SCHEMA
from ansible_collections.lbkit.loadbalancer.plugins.module_utils._spec.secrets import secret_values

try:
    import jsonschema
except ImportError:
    jsonschema = None

ARGUMENT_SPEC = dict(spec=dict(type="dict", required=True, no_log=True))


def schema_errors(data):
    """Errors from the jsonschema library over the same schema (a cross-check of the model).

    The library's own messages repeat the value (a secret, a 100 kB string): only the rule's
    name is kept.
    """
    if jsonschema is None:
        return []
    validator = jsonschema.Draft202012Validator(SCHEMA)
    out = []
    try:
        for err in validator.iter_errors(data):
            path = "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in err.absolute_path) if err.absolute_path else "/"
            out.append(SpecError(path, "violates the schema's '%s' rule." % err.validator, "see the field in docs/spec-reference.md."))
    except (RecursionError, ValueError):
        # a document deeper than the library walks, or a number too long to print: the model reported it
        return out
    return out


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        if validation.error_messages:
            raise AnsibleActionFail("; ".join(validation.error_messages))
        data = self._task.args["spec"]
        spec, errors = check_spec(data)
        # The model walks the same schema; anything the library finds at a path the model did
        # not flag is reported too, so a disagreement can never hide an error.
        reported = set(e.path for e in errors)
        for err in schema_errors(data):
            if not any(err.path == p or err.path.startswith(p.rstrip("/") + "/") or p.startswith(err.path.rstrip("/") + "/") for p in reported):
                errors.append(err)
        result["changed"] = False
        # The modules mask the spec's secrets wherever they appear (mask_only_secrets); so does this action.
        secrets = secret_values(data)
        result["valid"] = not errors
        result["errors"] = [e.as_dict() for e in errors]
        result["summary"] = [str(e) for e in errors]
        if errors:
            result["failed"] = True
            result["msg"] = SpecInvalid(errors).summary()
        else:
            result["services"] = {
                "virtual_services": len(spec.virtual_services),
                "real_servers": sum(len(vs.real_servers) for vs in spec.virtual_services),
            }
            result["msg"] = "the spec is valid: %d virtual services, %d real servers." % (
                result["services"]["virtual_services"],
                result["services"]["real_servers"],
            )
        return remove_values(result, secrets)
