"""What the engine asks of a world: the :class:`World` protocol.

A world is the simulated physical process a fleet senses. The engine (``twin.sim.fleet``)
builds one world per group and then only ever calls :meth:`World.sample`; everything else it
needs is read off the class. A new world is one module with a class like the built-in ones
(:mod:`twin.world.soil` is the reference), registered under a kind in
:mod:`twin.world.registry`.

Optional hooks, looked up with ``getattr`` by the generic dataset builder
(:func:`twin.world.dataset.make_dataset`) rather than required here:

* ``skip(nodes)`` -- advance each node by one sample without producing it (a camera world skips
  rendering frames no data set row uses; its hidden state still steps);
* ``observe(nodes, k)`` -- the observation of each node at sample index ``k``, in any order (a
  world whose samples are pure functions of (node, k) can be generated in large random-access
  batches).
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from twin.rng import NodeStream

__all__ = ["ActuatedWorld", "World"]


@runtime_checkable
class World(Protocol):
    """A world model the engine can run (structural type: no base class to inherit).

    Class attributes
    ----------------
    kind : str
        Name of the world in scenarios (``world.kind``, ``groups.<g>.world``).
    params_type : type
        Parameter class; ``params_type()`` gives the defaults the engine uses.
    channels : tuple of str
        What one sample holds, in the order fed to a model: a model window is ``window``
        consecutive samples, oldest first, channels interleaved per sample.
    actuator : str or None
        What a decision drives when a group sets ``actuation: true`` ("irrigation valve"), or
        None for an open-loop world (the scenario is then rejected at load time).
    description : str
        One line for listings and schema docs.

    Constructor
    -----------
    ``World(params, n_nodes, period_s, phase_s, horizon_s, rng, stream, history_samples=0)``,
    plus ``actuation=False`` for a world with an actuator (the engine passes it only when a
    group closes the loop):

    params : params_type
        World parameters.
    n_nodes : int
        Number of nodes (one sensor each).
    period_s : float
        Sampling period [s]; node ``i`` samples at ``phase_s[i] + k * period_s``.
    phase_s : numpy.ndarray
        First sample time of each node [s], in ``[0, period_s)``.
    horizon_s : float
        Simulated horizon [s] (draw weather, schedules etc. up to it).
    rng : numpy.random.Generator
        Set-up stream (per-node properties); consumed only in the constructor.
    stream : twin.rng.NodeStream
        Counter-based stream for per-sample randomness, so that a value depends on (node,
        sample index, seeds) only, never on how the engine batches its calls.
    history_samples : int
        Samples the engine takes before ``t = 0`` to fill each node's model window: sample
        indices then start at ``k = -history_samples``.
    """

    kind: ClassVar[str]
    params_type: ClassVar[type]
    channels: ClassVar[tuple[str, ...]]
    actuator: ClassVar[str | None]
    description: ClassVar[str]

    def __init__(
        self,
        params: Any,
        n_nodes: int,
        period_s: float,
        phase_s: np.ndarray,
        horizon_s: float,
        rng: np.random.Generator,
        stream: NodeStream,
        history_samples: int = 0,
    ) -> None: ...

    def sample(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Take the next sample of each node in ``nodes`` (unique indices, any subset).

        Each call advances the nodes it names by one sample index; nodes may be asked in any
        grouping and order across calls, as long as each node's samples come in order.

        Returns
        -------
        readings : numpy.ndarray
            ``(len(nodes), len(channels))`` float32.
        truth : numpy.ndarray
            ``(len(nodes),)`` ground-truth label (bool or 0/1) of the sample: what a perfect
            model would decide, scored against the decisions.
        """
        ...


@runtime_checkable
class ActuatedWorld(World, Protocol):
    """A world whose state the decisions change (``actuator`` is not None).

    The constructor also takes ``actuation: bool = False``; with it on, :meth:`sample` takes
    the decision each node's actuator read after its previous sample, and :meth:`outcomes`
    reports what those decisions did.
    """

    def sample(
        self, nodes: np.ndarray, control: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Take the next sample of each node; ``control`` drives the actuator (see class)."""
        ...

    def outcomes(self) -> dict[str, np.ndarray]:
        """Per-node totals since ``t = 0`` of what the decisions did (name -> ``(n_nodes,)``).

        The engine reports each as ``<name>_per_node_day`` (summed over nodes, divided by
        nodes and days), so names carry their unit (``water_applied_mm``).
        """
        ...
