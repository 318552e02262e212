"""Registry of world kinds: scenario name -> world class, found without name-mangling.

Worlds are plug-ins. Each one is a class that satisfies :class:`twin.world.protocol.World`
and declares its own ``kind``, ``params_type``, ``channels``, ``actuator`` and ``description``;
this module maps a kind to the ``"package.module:ClassName"`` that defines it and reads the
rest off the class. Three sources, in order of precedence:

1. the built-in worlds of :mod:`twin.world` (listed below as strings);
2. :func:`register_world`, for a world defined in a user's own module;
3. installed distributions that advertise worlds in the ``twin.worlds`` entry-point group,
   the way pytest and Dask find their plug-ins::

       # pyproject.toml of a third-party package
       [project.entry-points."twin.worlds"]
       greenhouse = "greenhouse_twin.world:GreenhouseWorld"

Lookups are lazy: :func:`world_kinds` reads names only (no world module is imported, and
entry-point metadata is read once), and :func:`world_spec` imports one world's module when a
scenario first uses it. Importing this module loads no world and no ML library.
"""

from __future__ import annotations

import functools
import importlib
import re
import warnings
from dataclasses import dataclass

__all__ = ["WorldSpec", "register_world", "world_kinds", "world_spec"]

ENTRY_POINT_GROUP = "twin.worlds"

# Built-in worlds, by import string so that listing kinds imports none of them.
_BUILTIN: dict[str, str] = {
    "soil": "twin.world.soil:SoilWorld",
    "room": "twin.world.room:RoomWorld",
    "heart": "twin.world.heart:HeartWorld",
    "audio": "twin.world.audio:AudioWorld",
    "camera": "twin.world.camera:CameraWorld",
    "vibration": "twin.world.vibration:VibrationWorld",
    "trace": "twin.world.trace:TraceWorld",
}
# Worlds registered at run time with register_world (user modules, tests).
_REGISTERED: dict[str, str] = {}
# Resolved specs, per kind (a world module is imported once).
_SPECS: dict[str, WorldSpec] = {}

# Kinds are written in YAML and used in file names and schema docs: keep them plain.
_KIND = re.compile(r"[a-z][a-z0-9_]*\Z")
_TARGET = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*\Z")


@dataclass(frozen=True)
class WorldSpec:
    """Everything the scenario schema, the compile stage and the engine need about a world.

    Attributes
    ----------
    kind : str
        Scenario name of the world (``"soil"``).
    world : type
        The world class (``SoilWorld``).
    params : type
        Its parameter class (``SoilParams``); ``params()`` gives the defaults.
    channels : tuple of str
        The world class's channels, in the order fed to a model.
    actuator : str or None
        What decisions drive with actuation on (``"irrigation valve"``), or None.
    description : str
        One line, for ``twin profiles`` and schema docs.
    """

    kind: str
    world: type
    params: type
    channels: tuple[str, ...]
    actuator: str | None
    description: str


@functools.cache
def _entry_points() -> dict[str, str]:
    """Worlds advertised by installed distributions: kind -> import string (read once)."""
    from importlib.metadata import entry_points

    found: dict[str, str] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _BUILTIN:
            # A plug-in must not silently replace a built-in world that published results used.
            warnings.warn(
                f"entry point {ep.value!r} ({ep.dist.name if ep.dist else '?'}) tries to "
                f"redefine the built-in world '{ep.name}'; ignored",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        found.setdefault(ep.name, ep.value)
    return found


def _targets() -> dict[str, str]:
    """Every known kind -> import string, in precedence order (built-ins first)."""
    out = dict(_BUILTIN)
    for source in (_REGISTERED, _entry_points()):
        for kind, target in source.items():
            out.setdefault(kind, target)
    return out


def world_kinds() -> tuple[str, ...]:
    """Names of every known world: built-ins first, then registered and plug-in worlds.

    Cheap: imports no world module.

    Returns
    -------
    tuple of str
        The kinds, in the order of :data:`_BUILTIN`, then registration, then entry points.
    """
    return tuple(_targets())


def register_world(kind: str, target: str) -> None:
    """Make a world class available to scenarios under ``kind``.

    The class is imported only when a scenario first asks for it (:func:`world_spec`).

    Parameters
    ----------
    kind : str
        Scenario name (lower case letters, digits and ``_``, starting with a letter); must equal
        the class's ``kind`` attribute.
    target : str
        ``"package.module:ClassName"`` of the world class.

    Raises
    ------
    ValueError
        A malformed kind or target, or a kind already taken by another world.
    """
    if not _KIND.match(kind):
        raise ValueError(f"world kind {kind!r}: use lower case letters, digits and '_'")
    if not _TARGET.match(target):
        raise ValueError(f"world target {target!r}: expected 'package.module:ClassName'")
    known = _targets().get(kind)
    if known is not None and known != target:
        raise ValueError(f"world kind '{kind}' is already {known!r}; pick another name")
    _REGISTERED[kind] = target


def _load(target: str) -> type:
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ImportError(f"module '{module_name}' has no world class '{attr}'") from None


def _spec_of(kind: str, cls: type, target: str) -> WorldSpec:
    """Read a world class's declarations, checking what the engine will rely on."""
    missing = [a for a in ("kind", "params_type", "channels", "description") if not hasattr(cls, a)]
    if not callable(getattr(cls, "sample", None)):
        missing.append("sample()")
    if missing:
        raise TypeError(f"world class {target!r} lacks {', '.join(missing)} (see World)")
    if cls.kind != kind:
        raise ValueError(
            f"world class {target!r} declares kind '{cls.kind}', registered as '{kind}'"
        )
    actuator = getattr(cls, "actuator", None)
    if actuator is not None and not callable(getattr(cls, "outcomes", None)):
        raise TypeError(f"world class {target!r} has an actuator but no outcomes()")
    return WorldSpec(
        kind=kind,
        world=cls,
        params=cls.params_type,
        channels=tuple(cls.channels),
        actuator=actuator,
        description=str(cls.description),
    )


def world_spec(kind: str) -> WorldSpec:
    """The spec of one world, importing its module on first use.

    Parameters
    ----------
    kind : str
        Scenario name of the world.

    Returns
    -------
    WorldSpec
        Class, parameter class, channels, actuator and description.

    Raises
    ------
    KeyError
        Unknown kind; the message lists the known ones.
    """
    spec = _SPECS.get(kind)
    if spec is not None:
        return spec
    target = _targets().get(kind)
    if target is None:
        raise KeyError(f"unknown world '{kind}'; known worlds: {', '.join(world_kinds())}")
    spec = _SPECS[kind] = _spec_of(kind, _load(target), target)
    return spec
