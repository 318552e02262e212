"""The strictness every scenario model shares: unknown keys refused, no coercion, finite floats."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# Strict types: a boolean is not a number (`count: true` was one node), text is not a number
# (the YAML loader reads 1e9 as a float), and an int is still a valid float. Every float is
# finite: .inf and .nan pass `gt=0` checks and then break the run.
_CONFIG = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class _Strict(BaseModel):
    model_config = _CONFIG
