"""The SimPy chain: one process per fleet group, wired to the shared network.

A group's process sleeps until its next sample, settles the shared network up to now, and
handles every sample due in its batching window in one vectorised step. SimPy orders the
groups in time; the network is the only place where nodes meet.
"""

from __future__ import annotations

import numpy as np
import simpy

from twin.plan import RunPlan
from twin.policies import PolicyPlan
from twin.rng import NodeStream, named_seed, stream_key
from twin.sim.fleet import FleetGroup, LinkSetup
from twin.sim.network import LoRaNetwork


def _group_process(env: simpy.Environment, g: FleetGroup, net: LoRaNetwork):
    while True:
        t = g.next_time()
        if t is None:
            return
        if t > env.now:
            yield env.timeout(t - env.now)
        net.advance(env.now)
        while g.next_snapshot_s() <= env.now:
            g.take_snapshot()
        g.process(g.batch_end(env.now), net)


def _network_process(env: simpy.Environment, net: LoRaNetwork):
    """Wake the network when it must act on its own (confirmed-uplink retransmissions).

    Groups advance the network before every batch; between batches nothing else needs it,
    except a retransmission, which the network itself schedules and must put on the channel
    before anything it could collide with is settled.
    """
    while True:
        wake_s = net.next_wake_s()
        net.wake_event = env.event()  # a new confirmed uplink may need an earlier wake-up
        if np.isinf(wake_s):
            yield net.wake_event
        else:
            yield env.timeout(max(wake_s - env.now, 0.0)) | net.wake_event
        net.wake_event = None
        net.advance(env.now)


def simulate(
    plan: RunPlan,
    policy: PolicyPlan,
    batch_window_s: float | None = None,
    record_events: bool = False,
) -> tuple[list[FleetGroup], LoRaNetwork]:
    """Run one policy over the whole plan; return the final group and network states.

    Every policy sees the same world, node positions and sensor noise (common random
    numbers), so differences between policies are the policies' own.
    """
    window = plan.batch_window_s if batch_window_s is None else batch_window_s
    groups = []
    for gp in plan.groups:
        # Keyed by the group's name: the order of groups in the file changes nothing.
        ss_setup, ss_node, ss_world, ss_link, ss_weather = (
            named_seed(plan.seed, "group", gp.name, purpose)
            for purpose in ("setup", "node", "world", "link", "weather")
        )
        link = LinkSetup(
            plan.gateways, plan.channel.propagation, plan.channel.adr_margin_db,
            np.random.default_rng(ss_link), np.random.default_rng(ss_weather),
        )  # fmt: skip
        groups.append(
            FleetGroup(
                gp,
                policy.build(),
                plan.horizon_s,
                plan.site_m,
                np.random.default_rng(ss_setup),
                NodeStream(stream_key(ss_node)),
                NodeStream(stream_key(ss_world)),
                window,
                plan.timeseries_interval_s,
                link,
                plan.faults,
            )
        )
    if record_events:
        for g in groups:
            g.event_log, g.decisions.log = [], []
    net = LoRaNetwork(
        groups, plan.cloud, [gp.models.cloud for gp in plan.groups], plan.gateways,
        plan.channel.capture_threshold_db, plan.faults,
    )  # fmt: skip
    env = simpy.Environment()
    for g in groups:
        env.process(_group_process(env, g, net))
    if net.confirmed:
        env.process(_network_process(env, net))
    env.run()
    for g in groups:  # every sample is taken: remaining time-series steps can open
        while g.next_snapshot_s() <= plan.horizon_s:
            g.take_snapshot()
    net.flush()
    for g in groups:
        g.finish(plan.horizon_s)
    return groups, net
