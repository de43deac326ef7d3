"""Configuration: YAML loading, schema validation and defaults.

The class registry (``registry.py``) lives here too but is imported on its own.
"""

from .loader import ConfigError, dump_config, load_config, read_yaml
from .schema import SCHEMA, describe_schema, schema_markdown

__all__ = [
    "SCHEMA",
    "ConfigError",
    "describe_schema",
    "dump_config",
    "load_config",
    "read_yaml",
    "schema_markdown",
]
