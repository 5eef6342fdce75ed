"""CloudFormation text for local mode: the YAML loader for short tags, and the value helpers the
template reader and the evaluator share.

CloudFormation short tags (`!Ref`, `!Sub`, `!If`, ...) are read as their long forms (`{"Ref": ...}`,
`{"Fn::Sub": ...}`, ...), which `local.intrinsics` evaluates.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urlsplit

import yaml


class _CfnLoader(yaml.SafeLoader):
    """A SafeLoader that reads CloudFormation short tags as their long (JSON) forms."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template (short tags become long-form intrinsic functions)."""
    with open(path, encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=_CfnLoader)
    if not isinstance(data, dict):
        raise TypeError(f"{path} is not a CloudFormation template (top level is not a mapping)")
    return data


class _NoValue:
    """`AWS::NoValue`: removes the property or list item that holds it."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


class Unresolvable(Exception):
    """An intrinsic function that has no local value (e.g. Fn::ImportValue)."""


def referenced_resource(value: Any) -> str | None:
    """The logical id that a `!Ref X` / `!GetAtt X.Attr` value points to, if simple."""
    if isinstance(value, dict) and len(value) == 1:
        key, argument = next(iter(value.items()))
        if key == "Ref" and isinstance(argument, str):
            return argument
        if key == "Fn::GetAtt":
            if isinstance(argument, str):
                return argument.split(".", 1)[0]
            if isinstance(argument, list) and argument:
                return str(argument[0])
    return None


def as_parameter_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def as_env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(as_env_value(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def as_int(value: Any, default: int | None) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def split_list(value: Any) -> tuple[str, ...]:
    """A list of strings from a list or a comma-separated string (empty entries dropped)."""
    if value is None or value is NO_VALUE:
        return ()
    items = value if isinstance(value, list) else [value]
    result: list[str] = []
    for item in items:
        for part in str(item).split(","):
            if part.strip():
                result.append(part.strip())
    return tuple(result)


def origin_of(url: str) -> str | None:
    """The origin (scheme://host[:port]) of a URL, or None."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"
