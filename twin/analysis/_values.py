"""Reading observations: what counts as a number (shared by the analysis modules)."""

from __future__ import annotations

import math
from typing import Any


def number(v: Any) -> float | None:
    """``v`` as a float; ``None`` when missing, not a number or NaN (inf is kept)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x
