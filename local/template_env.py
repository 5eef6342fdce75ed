"""The functions' environment in local mode: the template's variables resolved, local defaults,
and the shell's overrides (which also set the parameters they are fed from)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from local.cfn import NO_VALUE, Unresolvable, as_env_value, referenced_resource


class Environment:
    """Part of local.template.Template: the environment every function gets locally."""

    def environment_template(self) -> dict[str, Any]:
        """The functions' environment variables as written (Globals first, then each function's own)."""
        variables: dict[str, Any] = {}
        global_variables = ((self.globals.get("Function") or {}).get("Environment") or {}).get(
            "Variables"
        ) or {}
        variables.update(global_variables)
        for function in self.functions.values():
            own = ((function.properties.get("Environment") or {}).get("Variables")) or {}
            for name, value in own.items():
                variables.setdefault(name, value)
        return variables

    def parameter_variables(self) -> dict[str, str]:
        """Environment variable -> the parameter it is fed from (`VAR: !Ref Param`)."""
        mapping = {}
        for name, value in self.environment_template().items():
            target = referenced_resource(value)
            if target in self.parameter_definitions:
                mapping[name] = target
        return mapping

    def template_only_variables(self) -> dict[str, str]:
        """Shell variable -> a parameter that feeds no function variable (e.g. CorsAllowedHeaders,
        which only the HTTP API reads), named like the parameter in upper snake case
        (CORS_ALLOWED_HEADERS), so `make dev` can set it the way it sets the others."""
        fed = set(self.parameter_variables().values())
        return {
            re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper(): name
            for name in self.parameter_definitions
            if name not in fed
        }

    def resource_variables(self) -> dict[str, str]:
        """Environment variable -> the resource it names (`VAR: !Ref Resource`)."""
        mapping = {}
        for name, value in self.environment_template().items():
            target = referenced_resource(value)
            if target in self.resources:
                mapping[name] = target
        return mapping

    def apply_environment(self, environ: Mapping[str, str]) -> None:
        """Let the shell's variables set the parameters they are fed into (so CORS and conditions
        follow), and the template-only parameters through their upper-snake-case names."""
        for variable, parameter in {**self.template_only_variables(), **self.parameter_variables()}.items():
            if variable in environ:
                self.parameters[parameter] = environ[variable]

    def environment(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        local_defaults: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The functions' environment for local mode.

        Template values (parameters' values, local resource values), then `local_defaults` for
        variables whose template value is unusable locally, then `environ` (the shell) wins.
        """
        environ = os.environ if environ is None else environ
        result: dict[str, str] = {}
        declared = self.environment_template()
        for name, raw in declared.items():
            try:
                value = self.resolve(raw)
            except Unresolvable:
                continue
            if value is None or value is NO_VALUE:
                continue
            result[name] = as_env_value(value)
        for name, value in (local_defaults or {}).items():
            result[name] = value
        for name in [*declared, *result]:
            if name in environ:
                result[name] = environ[name]
        return result
