"""YAML as the gateway reads it: policy data, the catalog, configuration and client files.

The policy data and the catalog are OPA data, and OPA must make of a file exactly what the gateway
does, so every YAML file is read by OPA's rules: plain YAML (safe tags only), string keys, no
duplicate keys (PyYAML would silently keep the last one; OPA refuses the file), and no timestamp
type (an unquoted date stays the string it is, as OPA reads it).
"""

from __future__ import annotations

from typing import Any

import yaml


class _Loader(yaml.SafeLoader):
    """SafeLoader without the timestamp type and with strict mappings."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _strict_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise yaml.constructor.ConstructorError(
                None, None, f"mapping keys must be strings, not {type(key).__name__}", key_node.start_mark
            )
        if key in result:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        result[key] = loader.construct_object(value_node, deep=True)
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _strict_mapping)


def load_yaml(text: str) -> Any:
    """Parse one YAML document by the rules above; raise ``yaml.YAMLError`` when it breaks them."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
