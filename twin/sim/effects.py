"""What the shared network decides about a group's nodes, handed back as arrays.

The network (channel, cloud, downlinks) never writes a group's state. Each time it settles,
it returns a list of effects, in the order it decided them; the engine has each group apply
its own, in that order, so a group's ledger, decision timeline and flash see exactly the
sequence of changes a direct call would have made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Delivery:
    """Decisions reaching nodes (a downlink, or a hub's relay) and starting to act."""

    group: int
    nodes: np.ndarray
    at_s: np.ndarray  # when each decision reaches its node [s]
    k: np.ndarray  # the sample each decision is about
    decision: np.ndarray
    sample_s: np.ndarray  # that sample's time [s] (the latency runs from it)
    # (n, 4) uplink, cloud queue, service, downlink-backhaul times [s] of cloud answers
    cloud_stages_s: np.ndarray | None = None


@dataclass(frozen=True)
class RxCorrection:
    """Receive charge changed after the fact: a downlink filled an empty receive window."""

    group: int
    nodes: np.ndarray
    delta_c: np.ndarray  # [C]
    at_s: np.ndarray  # when the charge falls [s]


@dataclass(frozen=True)
class LinkAnswered:
    """Uplinks that asked for an answer got one (store-and-forward: the link is up)."""

    group: int
    nodes: np.ndarray
    at_s: np.ndarray


@dataclass(frozen=True)
class LinkUnanswered:
    """Uplinks that asked for an answer got none after their last transmission."""

    group: int
    nodes: np.ndarray
    kind: np.ndarray
    sample_s: np.ndarray
    at_s: np.ndarray


@dataclass(frozen=True)
class Retransmission:
    """Confirmed uplinks to send again, no earlier than ``not_before_s``."""

    group: int
    nodes: np.ndarray
    k: np.ndarray
    sample_s: np.ndarray
    kind: np.ndarray
    data: np.ndarray
    attempt: np.ndarray
    seen: np.ndarray  # the network already has the frame (a lost ACK)
    not_before_s: np.ndarray


Effect = Delivery | RxCorrection | LinkAnswered | LinkUnanswered | Retransmission
