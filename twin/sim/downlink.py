"""Getting the cloud's decisions (and ACKs) back to the nodes.

Decisions ready at the network server wait in a pool until a node can hear them: a class-A
LoRaWAN node only in the two receive windows after its own uplink, within the serving
gateway's downlink duty cycle; a node on a direct link at its next periodic occasion (BLE
connection events, Wi-Fi DTIM beacons, eDRX paging) or in the window it opens with each of
its own messages. What reaches a node is handed back as effects (:mod:`twin.sim.effects`).
"""

from __future__ import annotations

import numpy as np

from twin.faults import FaultPlan
from twin.sim import effects
from twin.sim.lorawan import ACK_TIMEOUT_S
from twin.sim.store import BACKLOG, rounds_of
from twin.sim.uplink import PURPOSE_ACK_TIMEOUT


def node_key(gid: np.ndarray, node: np.ndarray) -> np.ndarray:
    """One integer per (group, node)."""
    return np.asarray(gid, dtype=np.int64) * (1 << 32) + np.asarray(node, dtype=np.int64)


class DownlinkScheduler:
    """The decision pool, class-A receive windows, gateways' duty cycle, direct-link windows.

    Parameters
    ----------
    uplinks : list
        Per group, its uplink (LoRaWAN figures: gateways heard, air times, receive windows;
        direct links: their occasions and windows).
    streams : list of NodeStream
        Per group, the counter-based stream (ACK timeout draws).
    confirmed : list of bool
        Per group, whether uplinks are confirmed (given up ones are counted).
    stores : list of bool
        Per group, whether it has store-and-forward (it hears how its checks ended).
    gateways : tuple of Gateway
        Duty cycles of each gateway's RX1 sub-band and RX2 frequency.
    faults : FaultPlan, optional
        Gateway outages.
    """

    def __init__(self, uplinks, streams, confirmed, stores, gateways, faults=None) -> None:
        self.uplinks = uplinks
        self.streams = streams
        self.confirmed = confirmed
        self.stores = stores
        self.faults: FaultPlan | None = faults
        n = len(uplinks)
        self.rx1_duty_cycle = np.array([gw.rx1_duty_cycle for gw in gateways])
        self.rx2_duty_cycle = np.array([gw.rx2_duty_cycle for gw in gateways])
        self._gw_free1 = np.full(len(gateways), -np.inf)
        self._gw_free2 = np.full(len(gateways), -np.inf)
        # Class-A receive delays per group (LoRa groups only; the others have none).
        self.rx1_delay_s, self.rx2_delay_s = (
            np.array([getattr(u.radio, f, 0.0) for u in uplinks])
            for f in ("rx1_delay_s", "rx2_delay_s")
        )
        self.max_tx = np.array([u.max_transmissions for u in uplinks])
        self.downlinks = np.zeros(n, dtype=np.int64)
        self.downlink_airtime_ns = np.zeros(n, dtype=np.int64)
        self.downlinks_blocked = np.zeros(n, dtype=np.int64)
        # Receive windows whose node no gateway in reach could serve (all down).
        self.downlinks_blocked_outage = np.zeros(n, dtype=np.int64)
        self.acks = np.zeros(n, dtype=np.int64)
        self.unacknowledged = np.zeros(n, dtype=np.int64)
        self.in_tail = np.zeros(n, dtype=np.int64)  # eDRX decisions that came in the RRC tail
        self._tails: dict[int, dict] = {}  # eDRX cellular groups: each node's latest tail
        self.rx_wait: list[dict] = []  # class-A windows not yet decided
        self._direct_wait: list[dict] = []  # direct-link windows not yet closed
        self._pool: dict | None = None  # decisions waiting for a receive window
        self.out: list[effects.Effect] = []
        self.tx_made: list[tuple] = []  # gateways' transmissions (gateway, start, end) decided

    def take_tx(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The gateways' transmissions decided since the last call: (gateway, start, end)."""
        made, self.tx_made = self.tx_made, []
        if not made:
            return np.empty(0, np.int64), np.empty(0), np.empty(0)
        return tuple(np.concatenate(c) for c in zip(*made, strict=True))

    # -- input -------------------------------------------------------------------------------
    def frames_heard(self, fin: dict, ok: np.ndarray) -> None:
        """Settled uplink frames: their receive windows open RX1/RX2 delays after the end.

        RX1 is decided when it opens (``r1``), RX2 when it opens (``decide``): a gateway's
        transmission is then known as soon as it starts, which half-duplex reception needs.
        """
        m = len(fin["node"])
        self.rx_wait.append(
            {
                "gid": fin["gid"], "node": fin["node"], "end": fin["end"],
                "r1": fin["end"] + self.rx1_delay_s[fin["gid"]],
                "decide": fin["end"] + self.rx2_delay_s[fin["gid"]], "ok": ok, "k": fin["k"],
                "ts": fin["ts"], "kind": fin["kind"], "r": fin["r"], "conf": fin["conf"],
                "att": fin["att"], "seen": fin["seen"] | ok,
                # RX1 decided (a), sent in (u1), with the decision of sample b1 (-1: ACK alone).
                "a": np.zeros(m, dtype=bool), "u1": np.zeros(m, dtype=bool),
                "b1": np.full(m, -1, dtype=np.int64),
            }
        )  # fmt: skip

    def direct_window(self, gi: int, nodes: np.ndarray, open_s, close_s) -> None:
        """A direct-link node reachable only around its own message listens in [open, close]."""
        self._direct_wait.append(
            {"gid": np.full(len(nodes), gi), "node": nodes.astype(np.int64),
             "open": open_s, "close": close_s}
        )  # fmt: skip

    def rrc_tail(self, gi: int, nodes: np.ndarray, k: np.ndarray, open_s, close_s) -> None:
        """An eDRX cellular node's latest message: connected from ``open_s`` to ``close_s``."""
        tail = self._tails.get(gi)
        if tail is None:
            n = len(self.uplinks[gi].link.phase_s)
            tail = {"k": np.full(n, -1, dtype=np.int64), "open": np.zeros(n)}
            tail["close"] = np.full(n, -np.inf)
            self._tails[gi] = tail
        tail["k"][nodes], tail["open"][nodes], tail["close"][nodes] = k, open_s, close_s

    def decisions_ready(self, gi, nodes, k, ts, ready, decision, stages) -> None:
        """Decisions the cloud made: to a periodic listener at once, else into the pool."""
        u = self.uplinks[gi]
        if u.technology == "hub" and u.link.period_s is not None:
            link = u.link
            # A node that listens periodically gets each decision at its next occasion (the
            # hub keeps it while the node is out of reach: its first occasion after).
            at = link.next_occasion_s(nodes, ready)
            if u.hub is not None:
                # Out of reach at the occasion: the first one once the hub is back.
                at = link.next_occasion_s(nodes, u.hub.back_s(nodes, at))
            extra_s, extra_c = link.downlink_extra(nodes)  # coverage repetitions
            at = at + link.downlink_s + extra_s
            rx_c = link.downlink_rx_c + extra_c
            tail = self._tails.get(gi)
            if tail is not None:
                # ... unless the modem is still connected after the message that asked: then
                # it arrives in the RRC tail, already paid for, without paging. (A message's
                # answer is always decided before the node's next message: batches stop a
                # feedback time short of the next sample.)
                in_tail = (tail["k"][nodes] == k) & (ready <= tail["close"][nodes])
                at = np.where(in_tail, np.maximum(ready, tail["open"][nodes]), at)
                rx_c = np.where(in_tail, 0.0, rx_c)
                self.in_tail[gi] += int(in_tail.sum())
            self.out.append(effects.Delivery(gi, nodes, at, k, decision, ts, stages))
            self.out.append(effects.RxCorrection(gi, nodes, rx_c, at))
            self.downlinks[gi] += len(nodes)
            return
        new = {
            "key": node_key(np.full(len(nodes), gi), nodes), "gid": np.full(len(nodes), gi),
            "node": nodes, "k": k, "ts": ts, "ready": ready, "dec": decision, "st": stages,
        }  # fmt: skip
        if self._pool is None:
            self._pool = new
        else:
            self._pool = {f: np.concatenate([self._pool[f], new[f]]) for f in new}

    def pool_size(self) -> int:
        """Decisions waiting for a receive window."""
        return 0 if self._pool is None else len(self._pool["node"])

    def take(self) -> list[effects.Effect]:
        """The effects decided since the last call, in order."""
        out, self.out = self.out, []
        return out

    # -- direct links ------------------------------------------------------------------------
    def open_direct_windows(self, t: float) -> None:
        """Serve the receive windows of window-reachable direct links that closed by ``t``.

        The newest decision ready by the window's end is delivered, at the window's start if
        it was waiting, else when it arrives; a Wi-Fi node that was listening for it stops.
        """
        if not self._direct_wait:
            return
        w = {f: np.concatenate([x[f] for x in self._direct_wait]) for f in self._direct_wait[0]}
        due = w["close"] <= t
        self._direct_wait = [{f: v[~due] for f, v in w.items()}] if (~due).any() else []
        w = {f: v[due] for f, v in w.items()}
        if not len(w["node"]) or self._pool is None or not len(self._pool["node"]):
            return
        order = np.lexsort((w["node"], w["gid"], w["close"]))
        w = {f: v[order] for f, v in w.items()}
        key = node_key(w["gid"], w["node"])
        has = np.isin(key, self._pool["key"])
        w, key = {f: v[has] for f, v in w.items()}, key[has]
        for r in rounds_of(key) if len(key) else []:
            self._serve_direct_round({f: v[r] for f, v in w.items()}, key[r])

    def _serve_direct_round(self, w: dict, key: np.ndarray) -> None:
        pool = self._pool
        entry = self._pool_entries(key)
        ready = (entry >= 0) & (pool["ready"] <= w["close"][np.maximum(entry, 0)])
        rows = np.flatnonzero(ready)
        if not len(rows):
            return
        e = entry[rows]
        best = np.full(len(key), -1, dtype=np.int64)
        np.maximum.at(best, e, pool["k"][rows])  # the newest decision wins
        pick = rows[pool["k"][rows] == best[e]]
        gone = np.zeros(len(pool["node"]), dtype=bool)
        gone[rows] = pool["k"][rows] <= best[e]
        pe = entry[pick]
        for gi, u in enumerate(self.uplinks):
            m = w["gid"][pe] == gi
            if not m.any():
                continue
            rowsel, ent = pick[m], pe[m]
            nodes, link = w["node"][ent], u.link
            at = np.maximum(pool["ready"][rowsel], w["open"][ent]) + link.downlink_s
            self.out.append(
                effects.Delivery(
                    gi,
                    nodes,
                    at,
                    pool["k"][rowsel],
                    pool["dec"][rowsel],
                    pool["ts"][rowsel],
                    pool["st"][rowsel],
                )  # fmt: skip
            )
            self.downlinks[gi] += len(nodes)
            if link.early_stop_s > 0:
                # The node stops listening once the decision is in (never before its own
                # message is through).
                listen_from = w["close"][ent] - link.early_stop_s
                saved_s = w["close"][ent] - np.maximum(at, listen_from)
                self.out.append(
                    effects.RxCorrection(gi, nodes, -saved_s * link.radio.listen_current_a, at)
                )
        self._pool = {f: v[~gone] for f, v in pool.items()}

    # -- the pool ----------------------------------------------------------------------------
    def compact_pool(self, t: float) -> None:
        """Forget pooled decisions that no receive window can carry any more.

        Every window still to be served opens after ``t - lag`` (RX1 opens at most ``lag``
        before its RX2 is decided; a direct link's window closes after ``t``), and a window
        carries the newest decision ready when it opens. So once a node has a decision ready
        by ``t - lag``, its older ones can never be chosen. Without this, nodes whose windows
        the gateways' duty cycle keeps blocking piled up decisions for the whole horizon.
        """
        pool = self._pool
        if pool is None or len(pool["key"]) < 2:
            return
        lag = float((self.rx2_delay_s - self.rx1_delay_s).max())
        settled = pool["ready"] <= t - lag
        if not settled.any():
            return
        _, inv = np.unique(pool["key"], return_inverse=True)
        newest = np.full(int(inv.max()) + 1, -1, dtype=np.int64)
        np.maximum.at(newest, inv[settled], pool["k"][settled])
        keep = pool["k"] >= newest[inv]
        if not keep.all():
            self._pool = {f: v[keep] for f, v in pool.items()}

    def _pool_entries(self, key: np.ndarray) -> np.ndarray:
        """For each pooled decision, the window (index into ``key``) of its node, or -1."""
        pool_key = self._pool["key"]
        srt = np.argsort(key)
        pos = np.minimum(np.searchsorted(key[srt], pool_key), len(key) - 1)
        return np.where(key[srt][pos] == pool_key, srt[pos], -1)

    # -- class-A receive windows -------------------------------------------------------------
    def open_windows(self, t: float) -> None:
        """Deliver decisions and ACKs in the receive windows decided by ``t``; retry the rest.

        A class-A node listens only after its own uplink: in RX1 (same SF) then RX2 (SF12).
        The network server sends the newest decision ready at the gateway when a window opens
        (older ones are superseded), and acknowledges a confirmed uplink it heard (with the
        decision, or alone); a decision that misses both windows waits for the next uplink
        the server hears. A confirmed uplink left without an ACK (not heard, or the
        gateway's duty cycle had no room) is retransmitted after ACK_TIMEOUT, up to the
        group's transmissions. RX1 is decided once it opened by ``t``, the rest once RX2
        opened. Vectorised in rounds so that each node appears once per round and its
        windows are served in time order.
        """
        if not self.rx_wait:
            return
        w = {f: np.concatenate([x[f] for x in self.rx_wait]) for f in self.rx_wait[0]}
        due = w["r1"] <= t
        later = [{f: v[~due] for f, v in w.items()}] if (~due).any() else []
        w = {f: v[due] for f, v in w.items()}
        if not len(w["node"]):
            return
        order = np.lexsort((w["node"], w["gid"], w["decide"]))
        w = {f: v[order] for f, v in w.items()}
        key = node_key(w["gid"], w["node"])
        pool_keys = self._pool["key"] if self._pool is not None else np.empty(0, np.int64)
        # No uplink heard, no downlink; heard: a decision to send, or an ACK owed.
        need = w["ok"] & (np.isin(key, pool_keys) | w["conf"])
        acked = np.zeros(len(key), dtype=bool)
        idx = np.flatnonzero(need)
        if len(idx):
            for r in rounds_of(key[idx]):
                sel = idx[r]
                sub = {f: v[sel] for f, v in w.items()}
                acked[sel] = self._serve_round(sub, key[sel], t)
                w["u1"][sel], w["b1"][sel] = sub["u1"], sub["b1"]
        w["a"][:] = True
        done = w["decide"] <= t
        if (~done).any():
            later.append({f: v[~done] for f, v in w.items()})
        self.rx_wait = later
        w, acked = {f: v[done] for f, v in w.items()}, acked[done]
        retry = w["conf"] & ~acked
        self._link_news(w, w["conf"] & acked, retry & (w["att"] >= self.max_tx[w["gid"]]))
        if retry.any():
            self._retransmit({f: v[retry] for f, v in w.items()})

    def _link_news(self, w: dict, acked: np.ndarray, failed: np.ndarray) -> None:
        """Tell store-and-forward nodes how their confirmed uplinks ended, in time order.

        ``w`` is sorted by decision time; rounds keep each node's events in that order.
        """
        for gi, stores in enumerate(self.stores):
            if not stores:
                continue
            idx = np.flatnonzero((acked | failed) & (w["gid"] == gi))
            for r in rounds_of(w["node"][idx]) if len(idx) else []:
                e = idx[r]
                a, f = e[acked[e]], e[failed[e]]
                if len(a):
                    self.out.append(effects.LinkAnswered(gi, w["node"][a], w["decide"][a]))
                if len(f):
                    self.out.append(
                        effects.LinkUnanswered(
                            gi, w["node"][f], w["kind"][f], w["ts"][f], w["decide"][f]
                        )
                    )

    def _retransmit(self, w: dict) -> None:
        """Schedule retransmissions of unacknowledged confirmed uplinks (or give up)."""
        for gi, u in enumerate(self.uplinks):
            m = w["gid"] == gi
            if not m.any():
                continue
            give_up = m & (w["att"] >= u.max_transmissions)
            # Confirmed messages given up (a store-and-forward link check that goes unanswered
            # is not one: its message is stored; a frame only forwarding stored ones neither).
            if self.confirmed[gi]:
                self.unacknowledged[gi] += int((give_up & (w["kind"] != BACKLOG)).sum())
            m &= ~give_up
            if not m.any():
                continue
            nodes, k, att = w["node"][m], w["k"][m], w["att"][m]
            counter = (k.astype(np.uint64) << np.uint64(4)) + att.astype(np.uint64)
            u_draw = self.streams[gi].uniform(nodes, counter, PURPOSE_ACK_TIMEOUT)
            lo, hi = ACK_TIMEOUT_S
            # The node gives up on RX2 once its preamble timeout passes, then waits ACK_TIMEOUT.
            not_before = w["decide"][m] + u.rx2_window_s + lo + (hi - lo) * u_draw
            self.out.append(
                effects.Retransmission(
                    gi,
                    nodes,
                    k,
                    w["ts"][m],
                    w["kind"][m],
                    w["r"][m],
                    att + 1,
                    w["seen"][m],
                    not_before,
                )  # fmt: skip
            )

    def _serving_gateway(self, w: dict, rx1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The gateway that answers each window, and whether none in reach is up at RX1.

        The network server answers through the gateway that heard the node best (the best
        one up, during outages).
        """
        gw = np.zeros(len(rx1), dtype=np.int64)
        no_gateway = np.zeros(len(rx1), dtype=bool)
        for gi, u in enumerate(self.uplinks):
            m = w["gid"] == gi
            if not m.any():
                continue
            nodes = w["node"][m]
            gw[m] = u.best_gateway[nodes]
            if self.faults is not None and self.faults.any_gateway_down:
                down = self.faults.gateways_down_at(rx1[m])
                gw[m] = np.argmax(np.where(down, -np.inf, u.rx_dbm[nodes]), axis=1)
                no_gateway[m] = down.all(axis=1)
        return gw, no_gateway

    def _toa(self, w: dict, with_decision: np.ndarray, window: int) -> np.ndarray:
        """Air time of each window's downlink: a decision, or an ACK alone (MAC only)."""
        out = np.zeros(len(with_decision))
        for gi, u in enumerate(self.uplinks):
            m = w["gid"] == gi
            if not m.any():
                continue
            nodes = w["node"][m]
            if window == 1:
                out[m] = np.where(with_decision[m], u.dl_toa_rx1_s[nodes], u.ack_toa_rx1_s[nodes])
            else:
                out[m] = np.where(with_decision[m], u.dl_toa_rx2_s, u.ack_toa_rx2_s)
        return out

    def _gateway_airtime(self, w, best1, best2, rx1, rx2, t) -> tuple[np.ndarray, np.ndarray]:
        """Pick RX1 or RX2 for each window, within the serving gateway's duty-cycle budget.

        EU868 gateways may transmit 1 % of the time in the uplink sub-band (RX1) and 10 % at
        869.525 MHz (RX2); after a downlink of air time T the band is off for T (1/dc - 1).
        Windows are served in the order they open, so the budget is spent first come, first
        served. RX1 is decided when it opens (``w["a"]`` false), the rest when RX2 does
        (``rx2 <= t``); each downlink sent is recorded as its gateway's transmission.
        Returns, per window whose RX2 opened, the sample index of the decision sent (-2: an
        ACK alone, -1: nothing) and the window used (1 or 2).
        """
        conf = w["conf"]
        gw, no_gateway = self._serving_gateway(w, rx1)
        first = ~w["a"]
        wants1 = first & ((best1 >= 0) | conf) & ~no_gateway
        toa1 = self._toa(w, best1 >= 0, 1)
        u1 = self._spend(wants1, gw, rx1, toa1, self.rx1_duty_cycle, self._gw_free1)
        w["u1"] = np.where(first, u1, w["u1"])
        w["b1"] = np.where(first, best1, w["b1"])
        self.tx_made.append((gw[u1], rx1[u1], rx1[u1] + toa1[u1]))
        opened2 = rx2 <= t
        # Windows with something to send: a decision ready by RX2 (or sent in RX1), an ACK.
        order = opened2 & ((best2 >= 0) | conf | w["u1"])
        wants2 = order & ~w["u1"] & ~no_gateway
        toa2 = self._toa(w, best2 >= 0, 2)
        u2 = self._spend(wants2, gw, rx1, toa2, self.rx2_duty_cycle, self._gw_free2, rx2)
        self.tx_made.append((gw[u2], rx2[u2], rx2[u2] + toa2[u2]))
        window = np.where(w["u1"], 1, np.where(u2, 2, 0))
        best = np.where(window == 1, w["b1"], best2)
        chosen = np.where(window == 0, -1, np.where(best >= 0, best, -2))
        chosen = np.where(opened2, chosen, -1)
        n = len(self.uplinks)
        gid = w["gid"]
        self.downlinks_blocked_outage += np.bincount(gid[order & no_gateway], minlength=n)
        self.downlinks_blocked += np.bincount(gid[order & (window == 0) & ~no_gateway], minlength=n)
        return chosen, np.where(opened2, window, 0)

    @staticmethod
    def _spend(wants, gw, rx1, toa, duty_cycle, free, opens=None) -> np.ndarray:
        """Serve windows in order of RX1 opening, each spending its gateway's budget.

        ``free`` (per gateway, when the band is next free) is updated in place; ``opens``
        (default ``rx1``) is when the window's downlink would start.
        """
        used = np.zeros(len(wants), dtype=bool)
        pos = np.flatnonzero(wants)
        if not len(pos):
            return used
        pos = pos[np.argsort(rx1[pos], kind="stable")]
        opens = rx1 if opens is None else opens
        # Sequential (each send spends the budget), on Python floats: indexing numpy
        # scalars in the loop cost more than the loop. Same IEEE operations, same results.
        off = (toa[pos] / duty_cycle[gw[pos]]).tolist()
        at = opens[pos].tolist()
        f = free.tolist()
        ok = []
        for g_, a_, o_ in zip(gw[pos].tolist(), at, off, strict=True):
            if f[g_] <= a_:
                f[g_] = a_ + o_
                ok.append(True)
            else:
                ok.append(False)
        free[:] = f
        used[pos] = ok
        return used

    def _serve_round(self, w: dict, key: np.ndarray, t: float) -> np.ndarray:
        """Serve one round of windows (each node once); returns which windows got a downlink.

        Fills in ``w["u1"]`` and ``w["b1"]`` for windows whose RX1 is decided now.
        """
        pool = self._pool
        rx1, rx2 = w["r1"], w["decide"]
        best = [np.full(len(key), -1, dtype=np.int64) for _ in range(2)]
        rows = entry = e = np.empty(0, dtype=np.int64)
        if pool is not None and len(pool["node"]):
            entry = self._pool_entries(key)  # the window each pool row is for
            rows = np.flatnonzero(entry >= 0)
            e = entry[rows]
            for b, opens in zip(best, (rx1, rx2), strict=True):
                ready = pool["ready"][rows] <= opens[e]
                np.maximum.at(b, e[ready], pool["k"][rows][ready])  # the newest decision wins
        chosen, window = self._gateway_airtime(w, best[0], best[1], rx1, rx2, t)
        served = chosen != -1
        if not served.any():
            return served
        ack_only = np.flatnonzero(chosen == -2)
        if len(ack_only):
            self._charge_downlinks(w, ack_only, window, rx1, rx2, ack=True)
        if not len(rows) or not (chosen >= 0).any():
            return served
        # The pool row of each chosen decision, and every row it supersedes.
        pick = rows[(pool["k"][rows] == chosen[e]) & (chosen[e] >= 0)]
        pick_entry = entry[pick]
        gone = np.zeros(len(pool["node"]), dtype=bool)
        gone[rows] = (chosen[e] >= 0) & (pool["k"][rows] <= chosen[e])
        at = self._charge_downlinks(w, pick_entry, window, rx1, rx2, ack=False)
        for gi in range(len(self.uplinks)):
            m = w["gid"][pick_entry] == gi
            if m.any():
                self.out.append(
                    effects.Delivery(
                        gi,
                        w["node"][pick_entry][m],
                        at[m],
                        pool["k"][pick][m],
                        pool["dec"][pick][m],
                        pool["ts"][pick][m],
                        pool["st"][pick][m],
                    )  # fmt: skip
                )
        self._pool = {f: v[~gone] for f, v in pool.items()}
        return served

    def _charge_downlinks(self, w, ent, window, rx1, rx2, ack: bool) -> np.ndarray:
        """Receive charge, air time and counts of downlinks sent in windows ``ent``.

        The node's RX charge was booked for two empty windows; a downlink replaces that with
        the frame's air time. Returns each downlink's arrival time at the node.
        """
        at = np.empty(len(ent))
        for gi, u in enumerate(self.uplinks):
            m = w["gid"][ent] == gi
            if not m.any():
                continue
            sel = ent[m]
            nodes = w["node"][sel]
            in_rx1 = window[sel] == 1
            opens = np.where(in_rx1, rx1[sel], rx2[sel])
            toa1 = u.ack_toa_rx1_s[nodes] if ack else u.dl_toa_rx1_s[nodes]
            toa2 = u.ack_toa_rx2_s if ack else u.dl_toa_rx2_s
            toa = np.where(in_rx1, toa1, toa2)
            delta_s = np.where(in_rx1, toa1 - u.nominal_rx_s[nodes], toa2 - u.rx2_window_s)
            self.out.append(effects.RxCorrection(gi, nodes, u.rx_current_a * delta_s, opens))
            at[m] = opens + toa
            if ack:
                self.acks[gi] += len(nodes)
            else:
                self.downlinks[gi] += len(nodes)
            # Integer nanoseconds: exact sums, whatever the batching.
            self.downlink_airtime_ns[gi] += int(np.round(toa * 1e9).astype(np.int64).sum())
        return at
