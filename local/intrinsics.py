"""The intrinsic-function evaluator of local mode: `!Ref`, `!GetAtt`, `!Sub`, `!If`, conditions and
the other functions the template can use, resolved against parameter values and the local values
of resources (what the server created on moto).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from local.cfn import NO_VALUE, Unresolvable, as_env_value


class Intrinsics:
    """Evaluates intrinsic functions in template values (the base of local.template.Template).

    Holds the parameters' current values and the local values of `!Ref X` / `!GetAtt X.Attr`."""

    data: dict[str, Any]
    region: str
    account_id: str
    stack_name: str
    parameter_definitions: dict[str, dict[str, Any]]
    parameters: dict[str, str | None]

    def __init__(self) -> None:
        # Local values of resources: what `!Ref X` and `!GetAtt X.Attr` return. The server fills in
        # what is only known once moto has created them (queue URLs, the secret's ARN).
        self.resource_refs: dict[str, Any] = {}
        self.resource_attributes: dict[tuple[str, str], Any] = {}

    def set_resource(self, logical_id: str, *, ref: Any = None, **attributes: Any) -> None:
        """Record the local value of `!Ref logical_id` and of `!GetAtt logical_id.<attribute>`."""
        if ref is not None:
            self.resource_refs[logical_id] = ref
        for attribute, value in attributes.items():
            self.resource_attributes[(logical_id, attribute)] = value

    def _resolved_str(self, value: Any, *, use_resources: bool = True) -> str | None:
        if value is None:
            return None
        try:
            resolved = self.resolve(value, use_resources=use_resources)
        except Unresolvable:
            return None
        return resolved if isinstance(resolved, str) and resolved else None

    def pseudo_parameter(self, name: str) -> Any:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }.get(name)

    def condition(self, name: str) -> bool:
        conditions = self.data.get("Conditions") or {}
        if name not in conditions:
            raise Unresolvable(f"unknown condition {name}")
        return bool(self._evaluate_condition(conditions[name]))

    def _evaluate_condition(self, value: Any) -> bool:
        if isinstance(value, dict) and len(value) == 1:
            key, argument = next(iter(value.items()))
            if key == "Condition":
                return self.condition(argument)
            if key == "Fn::Equals":
                left, right = (self.resolve(item) for item in argument)
                return as_env_value(left) == as_env_value(right)
            if key == "Fn::Not":
                return not self._evaluate_condition(argument[0])
            if key == "Fn::And":
                return all(self._evaluate_condition(item) for item in argument)
            if key == "Fn::Or":
                return any(self._evaluate_condition(item) for item in argument)
        resolved = self.resolve(value)
        return str(resolved).lower() == "true" if not isinstance(resolved, bool) else resolved

    def _ref(self, name: str, *, use_resources: bool = True) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo_parameter(name)
        if name in self.parameter_definitions:
            value = self.parameters.get(name)
            if value is None:
                raise Unresolvable(f"parameter {name} has no value")
            kind = str((self.parameter_definitions[name] or {}).get("Type", ""))
            if kind.startswith("List<") or kind == "CommaDelimitedList":
                return [part.strip() for part in value.split(",")] if value else []
            return value
        if use_resources and name in self.resource_refs:
            return self.resource_refs[name]
        raise Unresolvable(f"no local value for Ref {name}")

    def _get_att(self, resource: str, attribute: str) -> Any:
        key = (resource, attribute)
        if key in self.resource_attributes:
            return self.resource_attributes[key]
        raise Unresolvable(f"no local value for {resource}.{attribute}")

    def _sub(self, argument: Any, *, use_resources: bool = True) -> str:
        if isinstance(argument, list):
            text, variables = (
                argument[0],
                {k: self.resolve(v, use_resources=use_resources) for k, v in argument[1].items()},
            )
        else:
            text, variables = argument, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            name = name.strip()
            if name in variables:
                return as_env_value(variables[name])
            if "." in name and not name.startswith("AWS::"):
                if not use_resources:
                    raise Unresolvable(name)
                resource, _, attribute = name.partition(".")
                return as_env_value(self._get_att(resource, attribute))
            return as_env_value(self._ref(name, use_resources=use_resources))

        return re.sub(r"\$\{([^}]*)\}", replace, str(text))

    def resolve(self, value: Any, *, use_resources: bool = True) -> Any:
        """Evaluate the intrinsic functions in `value` (AWS::NoValue entries are dropped)."""
        if isinstance(value, list):
            items = [self.resolve(item, use_resources=use_resources) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            key, argument = next(iter(value.items()))
            if key == "Ref":
                return self._ref(str(argument), use_resources=use_resources)
            if key == "Condition":
                return self.condition(str(argument))
            if key.startswith("Fn::"):
                return self._intrinsic(key[4:], argument, use_resources=use_resources)
        resolved = {}
        for key, item in value.items():
            item = self.resolve(item, use_resources=use_resources)
            if item is not NO_VALUE:
                resolved[key] = item
        return resolved

    def _intrinsic(self, name: str, argument: Any, *, use_resources: bool) -> Any:
        resolve = self.resolve
        if name == "If":
            condition, if_true, if_false = argument
            chosen = if_true if self.condition(condition) else if_false
            return resolve(chosen, use_resources=use_resources)
        if name in ("Equals", "Not", "And", "Or"):
            return self._evaluate_condition({f"Fn::{name}": argument})
        if name == "Sub":
            return self._sub(argument, use_resources=use_resources)
        if name == "GetAtt":
            if not use_resources:
                raise Unresolvable("GetAtt")
            if isinstance(argument, str):
                argument = argument.split(".", 1)
            return self._get_att(str(argument[0]), str(resolve(argument[1])))
        if name == "Join":
            delimiter, items = argument
            items = resolve(items, use_resources=use_resources)
            return str(delimiter).join(as_env_value(item) for item in items)
        if name == "Split":
            delimiter, text = argument
            return str(resolve(text, use_resources=use_resources)).split(str(delimiter))
        if name == "Select":
            index, items = argument
            items = resolve(items, use_resources=use_resources)
            return items[int(resolve(index, use_resources=use_resources))]
        if name == "FindInMap":
            mapping, top, second = (resolve(item, use_resources=use_resources) for item in argument[:3])
            return (self.data.get("Mappings") or {})[mapping][top][second]
        if name == "GetAZs":
            return [f"{self.region}{suffix}" for suffix in "abc"]
        if name == "Base64":
            return base64.b64encode(str(resolve(argument, use_resources=use_resources)).encode()).decode()
        if name == "Length":
            return len(resolve(argument, use_resources=use_resources))
        if name == "ToJsonString":
            return json.dumps(resolve(argument, use_resources=use_resources), separators=(",", ":"))
        raise Unresolvable(f"Fn::{name} has no local value")


# ------------------------------------------------------------------------------------ helpers
