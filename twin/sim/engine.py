"""The SimPy chain: one process per fleet group, wired to the shared network.

A group's process sleeps until its next sample, settles the shared network up to now, and
handles every sample due in its batching window in one vectorised step. SimPy orders the
groups in time; the network is the only place where nodes meet, and what it decides about a
group's nodes comes back as effects the group applies.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import simpy

from twin.plan import RunPlan
from twin.policies import PolicyPlan
from twin.rng import NodeStream, named_seed, stream_key
from twin.sim.group import FleetGroup, GroupStreams
from twin.sim.lorawan import LinkSetup
from twin.sim.network import Network
from twin.sim.stats import GroupStats, NetworkStats
from twin.sim.timebins import TimeBins
from twin.sim.uplink_log import UplinkLog


def _settle(net: Network, groups: list[FleetGroup], t: float) -> None:
    """Settle the network up to ``t`` and have each group apply what it decided."""
    decided = net.advance(t)
    if decided is None:
        return
    for effect in decided:
        groups[effect.group].apply(effect, net)
    for g in groups:
        g.settled(t)


def _group_process(env: simpy.Environment, g: FleetGroup, groups, net: Network):
    while True:
        t = g.next_time()
        if t is None:
            return
        if t > env.now:
            yield env.timeout(t - env.now)
        _settle(net, groups, env.now)
        while g.next_snapshot_s() <= env.now:
            g.take_snapshot()
        g.process(g.batch_end(env.now), net)


def _network_process(env: simpy.Environment, groups, net: Network):
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
        _settle(net, groups, env.now)


def _streams(plan: RunPlan, name: str) -> GroupStreams:
    """A group's streams, keyed by its name: the order of groups in the file changes nothing."""
    setup, node, world, link, weather = (
        named_seed(plan.seed, "group", name, purpose)
        for purpose in ("setup", "node", "world", "link", "weather")
    )
    return GroupStreams(
        setup=np.random.default_rng(setup),
        node=NodeStream(stream_key(node)),
        world=NodeStream(stream_key(world)),
        link=np.random.default_rng(link),
        weather=np.random.default_rng(weather),
    )


PROGRESS_STEPS = 200  # progress calls per policy run


def _run(env: simpy.Environment, horizon_s: float, progress) -> None:
    """Run to the end; with ``progress``, pause at each step of the horizon to report it.

    Pausing (``run(until=t)``) only interrupts the event loop: the queue, and the order of
    events that share a time, are untouched, so results are the same either way.
    """
    if progress is not None:
        for k in range(1, PROGRESS_STEPS + 1):
            t = horizon_s * k / PROGRESS_STEPS
            if env.peek() > t:  # nothing to do before t: no pause is needed
                progress(k / PROGRESS_STEPS)
                continue
            env.run(until=t)
            progress(k / PROGRESS_STEPS)
    env.run()


def simulate(
    plan: RunPlan,
    policy: PolicyPlan,
    batch_window_s: float | None = None,
    record_events: bool = False,
    progress: Callable[[float], None] | None = None,
    uplink_log: UplinkLog | None = None,
) -> tuple[list[GroupStats], NetworkStats]:
    """Run one policy over the whole plan; return what each group and the network counted.

    Every policy sees the same world, node positions and sensor noise (common random
    numbers), so differences between policies are the policies' own. ``progress``, when
    given, is called with the simulated fraction of the horizon (0 to 1) as it advances;
    ``uplink_log``, when given, keeps every LoRa frame the gateways decoded (telemetry).
    """
    window = plan.batch_window_s if batch_window_s is None else batch_window_s
    bins = TimeBins(plan.horizon_s, plan.timeseries_interval_s)
    groups = []
    for gp in plan.groups:
        streams = _streams(plan, gp.name)
        link = LinkSetup(
            plan.gateways, plan.channel.propagation, plan.channel.adr_margin_db, streams.link
        )
        groups.append(
            FleetGroup(
                gp,
                policy.build(),
                plan.horizon_s,
                plan.site_m,
                streams,
                window,
                bins,
                link,
                plan.faults,
            )  # fmt: skip
        )
    if record_events:
        for g in groups:
            g.event_log, g.decisions.log = [], []
    net = Network(
        [g.port() for g in groups], plan.cloud, plan.gateways,
        plan.channel, bins, plan.faults,
    )  # fmt: skip
    if uplink_log is not None:
        uplink_log.attach(net.channel)
    env = simpy.Environment()
    for g in groups:
        env.process(_group_process(env, g, groups, net))
    if net.confirmed:
        env.process(_network_process(env, groups, net))
    _run(env, plan.horizon_s, progress)
    for g in groups:  # every sample is taken: remaining time-series steps can open
        while g.next_snapshot_s() <= plan.horizon_s:
            g.take_snapshot()
    # Settle everything (end of run), including retransmissions scheduled meanwhile.
    while True:
        _settle(net, groups, np.inf)
        if not net.unsettled_frames():
            break
        net.reopen()
    for g in groups:
        g.finish(plan.horizon_s)
    return [g.stats(plan.horizon_s) for g in groups], net.stats()
