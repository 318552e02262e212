"""The shared LoRa channel: which uplink frames the gateways decode, and why the rest are lost.

Frames are settled on sorted arrays, not one event per frame: once every frame that *started*
before ``t`` is known, every frame that *ended* by ``t`` can be decided exactly. Gateways are
half-duplex: one transmitting a downlink hears nothing meanwhile, on any channel; the
network (:mod:`twin.sim.network`) hands the channel the gateways' transmissions that start
before ``t``. Model limit (see README): interference is judged against the strongest
overlapping frame, not the sum of all of them.
"""

from __future__ import annotations

import heapq

import numpy as np

from twin.faults import FaultPlan
from twin.physics import lora
from twin.sim.timebins import TimeBins
from twin.sim.uplink import PURPOSE_LOSS_BURST

# The fields of a frame on the channel.
FRAME_FIELDS = ("gid", "node", "k", "ts", "start", "end", "chan", "sf", "kind", "phy", "r",
                "done", "conf", "att", "seen", "hold", "adm")  # fmt: skip

# Why an uplink frame was lost on the channel: drowned by an overlapping frame, too weak for
# every gateway, no demodulator free, no gateway in reach up (outage), every gateway in reach
# and up transmitting a downlink meanwhile (half-duplex), or a loss burst.
LOST_COLLISION, LOST_OUT_OF_RANGE, LOST_GATEWAY_BUSY = "collision", "out_of_range", "gateway_busy"
LOST_OUTAGE, LOST_INTERFERENCE, LOST_HALF_DUPLEX = "outage", "interference", "half_duplex"
LOST_REASONS = (LOST_COLLISION, LOST_OUT_OF_RANGE, LOST_GATEWAY_BUSY, LOST_OUTAGE,
                LOST_INTERFERENCE, LOST_HALF_DUPLEX)  # fmt: skip


def transmitting(
    tx: list[tuple[np.ndarray, np.ndarray]], a: np.ndarray, b: np.ndarray, at_start: bool
) -> np.ndarray:
    """Per frame ``[a, b)`` and gateway: whether the gateway transmits during it.

    ``tx`` holds, per gateway, its transmissions' starts (sorted) and the running maximum of
    their ends. With ``at_start``, only a transmission under way at ``a`` counts (``s <= a <
    e``); otherwise any that overlaps the frame (``s < b`` and ``e > a``).
    """
    out = np.zeros((len(a), len(tx)), dtype=bool)
    for g, (starts, max_end) in enumerate(tx):
        if len(starts):
            i = np.searchsorted(starts, a if at_start else b, "right" if at_start else "left")
            out[:, g] = (i > 0) & (max_end[np.maximum(i - 1, 0)] > a)
    return out


def tx_table(gw: np.ndarray, start: np.ndarray, end: np.ndarray, n_gateways: int) -> list:
    """Transmissions ``(gateway, start, end)`` as :func:`transmitting` wants them."""
    out = []
    for g in range(n_gateways):
        m = gw == g
        o = np.argsort(start[m], kind="stable")
        out.append((start[m][o], np.maximum.accumulate(end[m][o]) if m.any() else end[m]))
    return out


class LoRaChannel:
    """Uplink frames of every LoRa group, their collisions, capture and demodulation.

    Parameters
    ----------
    rx_dbm : list of numpy.ndarray
        Per group, received power of each node at each gateway [dBm] (empty for groups not
        on the channel).
    streams : list of NodeStream
        Per group, the counter-based stream (loss-burst draws).
    demodulators : numpy.ndarray
        Frames each gateway can demodulate at once.
    sensitivity_dbm : numpy.ndarray
        Gateway sensitivity per spreading factor 7..12 [dBm].
    capture_db : float
        A frame survives overlapping ones this much stronger [dB].
    max_airtime_s : float
        The longest frame any group sends [s] (how long a frame must be kept to overlap).
    bins : TimeBins
        Time-series steps (frames lost per step).
    faults : FaultPlan, optional
        Gateway outages and loss bursts.
    sf_orthogonal : bool
        Take spreading factors as orthogonal (no inter-SF interference).
    grace_s : numpy.ndarray, optional
        Per group and spreading factor 7..12, how long into a frame an interferer may end
        without harm [s] (:func:`twin.physics.lora.preamble_grace_s`; default none).
    half_duplex : bool
        A gateway hears nothing while it transmits (the network gives its transmissions).
    """

    def __init__(
        self, rx_dbm, streams, demodulators, sensitivity_dbm, capture_db, max_airtime_s,
        bins: TimeBins, faults: FaultPlan | None = None, sf_orthogonal: bool = True,
        grace_s: np.ndarray | None = None, half_duplex: bool = False,
    ) -> None:  # fmt: skip
        self.rx_dbm = rx_dbm
        self.streams = streams
        self.demodulators = np.asarray(demodulators)
        self.n_gateways = len(self.demodulators)
        self.sensitivity_dbm = sensitivity_dbm
        self.capture_db = capture_db
        self.max_airtime_s = max_airtime_s
        self.faults = faults
        self.sf_orthogonal = sf_orthogonal
        self.grace_s = np.zeros((len(rx_dbm), 6)) if grace_s is None else np.asarray(grace_s)
        self.bins = bins
        n = len(rx_dbm)
        self.delivered = np.zeros(n, dtype=np.int64)
        self.lost = {code: np.zeros(n, dtype=np.int64) for code in LOST_REASONS}
        # Frames lost per group and time-series step (by the frame's end).
        self.lost_bins = np.zeros((n, bins.n), dtype=np.int64)
        self.new: list[dict] = []  # frames put on air since the last settling
        # Where settled frames go to be logged, as a network server would (None: not kept).
        self.log = None
        self.pending: dict | None = None  # frames that may still overlap later ones
        self.half_duplex = half_duplex
        # The gateways' downlink transmissions (gateway, start, end) that may still overlap
        # frames to settle: those committed, and those the current pass assumes.
        self._tx = (np.empty(0, np.int64), np.empty(0), np.empty(0))
        self.assumed_tx = self._tx
        self._seen: tuple | None = None  # what the last settling read of the transmissions
        self.last_settled: tuple | None = None  # (frames, delivered, decoded by gateway)

    @staticmethod
    def sensitivity_for(radio) -> np.ndarray:
        """Gateway sensitivity for a radio's bandwidth and noise figure, SF 7..12 [dBm]."""
        return lora.sensitivity_dbm(np.arange(7, 13), radio.bandwidth_hz, radio.noise_figure_db)

    def add(self, frames: dict) -> None:
        """Frames a group just put on air (fields: :data:`FRAME_FIELDS` but the last two)."""
        m = len(frames["node"])
        # Which gateways' demodulators each frame holds, once decided (``adm``).
        frames["hold"] = np.zeros((m, self.n_gateways), dtype=bool)
        frames["adm"] = np.zeros(m, dtype=bool)
        self.new.append(frames)

    def _take(self) -> dict | None:
        parts = ([self.pending] if self.pending is not None else []) + self.new
        self.new = []
        parts = [p for p in parts if len(p["node"])]
        if not parts:
            return None
        return {f: np.concatenate([p[f] for p in parts]) for f in FRAME_FIELDS}

    def settle(self, t: float) -> tuple[dict, np.ndarray] | None:
        """Decide every frame that ended by ``t``: heard, captured, demodulated, or lost.

        At each gateway a frame is *heard* when its received power clears the sensitivity of
        its spreading factor, *survives* a collision when it is at least the capture
        threshold stronger than every overlapping frame on its channel and spreading factor
        (other spreading factors are taken as orthogonal), and is *demodulated* when fewer
        than the gateway's demodulators are already locked on frames heard earlier. It is
        delivered when any gateway decodes it. Frames that ended long enough ago to overlap
        nothing new are dropped from the working set.

        Returns the frames decided now (sorted by start) and which were delivered, or None.
        """
        self._seen, self.last_settled = None, None
        p = self._take()
        if p is None:
            self.pending = None
            return None
        order = np.lexsort((p["k"], p["node"], p["gid"], p["start"]))
        p = {f: v[order] for f, v in p.items()}
        end = p["end"]
        final = (end <= t) & ~p["done"]
        if final.any():
            fin_idx = np.flatnonzero(final)
            ok, reason, by_gateway = self._decode(p, fin_idx, t)
            p["done"] = p["done"] | final
        # Keep frames that may still overlap frames not yet settled.
        keep = ~p["done"] | (end > t - self.max_airtime_s)
        self.pending = {f: v[keep] for f, v in p.items()}
        if not final.any():
            return None
        fin = {f: v[fin_idx] for f, v in p.items()}
        self.last_settled = (fin, ok, by_gateway)
        if self.log is not None and not self.half_duplex:
            self.log.add(fin, ok, by_gateway)  # (half-duplex: once the pass holds)
        n = len(self.delivered)
        for code in LOST_REASONS:
            lost = (~ok) & (reason == code)
            self.lost[code] += np.bincount(fin["gid"][lost], minlength=n)
        np.add.at(self.lost_bins, (fin["gid"][~ok], self.bins.of(fin["end"][~ok])), 1)
        self.delivered += np.bincount(fin["gid"][ok], minlength=n)
        return fin, ok

    def _decode(self, p: dict, fin_idx: np.ndarray, t: float) -> tuple[np.ndarray, ...]:
        """Which frames ``fin_idx`` some gateway decodes, why others are lost, and by whom."""
        start = p["start"]
        power = np.empty((len(start), self.n_gateways))
        for gi, rx in enumerate(self.rx_dbm):
            m = p["gid"] == gi
            if m.any():
                power[m] = rx[p["node"][m]]
        in_reach = up = power >= self.sensitivity_dbm[p["sf"] - 7][:, None]
        if self.faults is not None and self.faults.any_gateway_down:
            # A gateway down at any time during the frame hears none of it.
            up = in_reach & ~self.faults.gateways_down(start, p["end"])
        heard_at_start, heard = self._half_duplex(p, up, fin_idx, t)
        pairs = list(self._pairs(p))
        survives = self._interference(p, power, pairs)
        hold = self._demodulators(p, heard_at_start, t, pairs)
        if self._seen is not None:
            self._seen += ((survives & hold)[fin_idx], survives[fin_idx])
        decoded = heard & survives & hold
        ok = decoded[fin_idx].any(axis=1)
        burst = self._burst_lost(p, fin_idx)
        f_up = up[fin_idx].any(axis=1)
        reason = np.where(
            ~heard[fin_idx].any(axis=1),
            np.where(
                f_up, LOST_HALF_DUPLEX,
                np.where(in_reach[fin_idx].any(axis=1), LOST_OUTAGE, LOST_OUT_OF_RANGE),
            ),
            np.where((heard & survives)[fin_idx].any(axis=1), LOST_GATEWAY_BUSY, LOST_COLLISION),
        )  # fmt: skip
        reason = np.where(ok & burst, LOST_INTERFERENCE, reason)
        ok &= ~burst
        return ok, reason, decoded[fin_idx]

    # -- half-duplex gateways ----------------------------------------------------------------
    def _half_duplex(self, p: dict, up: np.ndarray, fin_idx: np.ndarray, t: float) -> tuple:
        """Which gateways hear each frame at its start (demodulator lock) and throughout.

        A gateway transmitting a downlink hears nothing, on any channel (its one radio front
        end is switched to TX: Semtech SX1301 datasheet, section 5; LoRaSim and ns-3's lorawan
        module model it so). A frame it starts transmitting over is lost at that gateway too;
        a demodulator is locked only if the gateway was listening at the frame's start (known
        once the frame started), and is held to the frame's end (a simplification: a cut-off
        frame frees it early in reality).
        """
        if not self.half_duplex:
            return up, up
        todo = np.flatnonzero(~p["adm"] & (p["start"] < t))
        tx = tx_table(*self._all_tx(self.assumed_tx), self.n_gateways)
        at_start = up.copy()
        block_start = transmitting(tx, p["start"][todo], p["start"][todo], at_start=True)
        at_start[todo] &= ~block_start
        block_all = transmitting(tx, p["start"][fin_idx], p["end"][fin_idx], at_start=False)
        heard = up.copy()
        heard[fin_idx] &= ~block_all
        self._seen = (
            p["start"][todo], up[todo], block_start & up[todo],
            p["start"][fin_idx], p["end"][fin_idx], up[fin_idx], block_all & up[fin_idx],
        )  # fmt: skip
        return at_start, heard

    def _all_tx(self, extra: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return tuple(np.concatenate([a, b]) for a, b in zip(self._tx, extra, strict=True))

    def consistent(self, made: tuple) -> bool:
        """Whether the last settling would end the same with transmissions ``made`` assumed.

        The same demodulators locked on frames that started (which gateways heard their
        start), and for the frames settled the same fate: heard, survived, decoded (by which
        gateways, when a log keeps it). Then the state after the settling is the same.
        """
        if self._seen is None:
            return True
        s_todo, up_todo, blk_todo, s_fin, e_fin, up_fin, blk_fin, can, surv = self._seen
        tx = tx_table(*self._all_tx(made), self.n_gateways)
        again_todo = transmitting(tx, s_todo, s_todo, at_start=True) & up_todo
        if not np.array_equal(again_todo, blk_todo):
            return False
        again_fin = transmitting(tx, s_fin, e_fin, at_start=False) & up_fin
        if np.array_equal(again_fin, blk_fin):
            return True

        def fate(blocked: np.ndarray) -> list[np.ndarray]:
            heard = up_fin & ~blocked
            decoded = heard & can
            return [heard.any(axis=1), (heard & surv).any(axis=1),
                    decoded if self.log is not None else decoded.any(axis=1)]  # fmt: skip

        return all(np.array_equal(a, b) for a, b in zip(fate(again_fin), fate(blk_fin),
                                                        strict=True))  # fmt: skip

    def commit_tx(self, made: tuple, t: float) -> None:
        """Keep the transmissions of a settled pass; forget those no frame can overlap now.

        Every frame still to settle ends after ``t``, so started after ``t - max_airtime``.
        """
        gw, start, end = self._all_tx(made)
        if np.isfinite(t):
            keep = end > t - self.max_airtime_s
            gw, start, end = gw[keep], start[keep], end[keep]
        self._tx = (gw, start, end)
        self.assumed_tx = (np.empty(0, np.int64), np.empty(0), np.empty(0))
        self._seen = None

    def _pairs(self, p: dict):
        """Overlapping pairs ``(i, j)`` of frames, ``i`` started first, by distance in order."""
        start, end = p["start"], p["end"]
        for d in range(1, len(start)):
            i = np.arange(len(start) - d)
            j = i + d
            overlap = start[j] < end[i]
            if not overlap.any():
                return  # starts are sorted: no later pair can overlap either
            yield i[overlap], j[overlap]

    def _interference(self, p: dict, power: np.ndarray, pairs: list) -> np.ndarray:
        """Per frame and gateway: whether the frame survives every frame overlapping it.

        Only frames on the same channel interfere. A later frame whose preamble is overlapped
        only in its first ``preamble - 5`` symbols still locks (Bor et al. 2016), and then
        neither frame harms the other (LoRaSim's rule). A frame survives a co-SF interferer
        that is at least the capture threshold weaker, and an interferer on another SF that is
        weaker by more than the measured rejection (:data:`twin.physics.lora.SIR_DB`, unless
        spreading factors are taken as orthogonal); each against the strongest such frame.
        """
        chan, sf = p["chan"], p["sf"]
        co = np.full(power.shape, -np.inf)  # strongest co-SF interferer
        cross = None if self.sf_orthogonal else np.full(power.shape + (6,), -np.inf)
        grace = self.grace_s[p["gid"], sf - 7]
        for i, j in pairs:
            hits = (chan[i] == chan[j]) & (p["end"][i] > p["start"][j] + grace[j])
            i, j = i[hits], j[hits]
            same = sf[i] == sf[j]
            si, sj = i[same], j[same]
            np.maximum.at(co, si, power[sj])
            np.maximum.at(co, sj, power[si])
            if cross is not None and not same.all():
                xi, xj = i[~same], j[~same]
                g = np.arange(self.n_gateways)[None, :]
                np.maximum.at(cross, (xi[:, None], g, (sf[xj] - 7)[:, None]), power[xj])
                np.maximum.at(cross, (xj[:, None], g, (sf[xi] - 7)[:, None]), power[xi])
        # ``power - (-inf)`` is +inf, which clears even an infinite threshold ("no capture").
        # A link no gateway hears (-inf, a measured table's) minus -inf is NaN: not heard
        # anyway, so whether it "survives" does not matter.
        with np.errstate(invalid="ignore"):
            survives = power - co >= self.capture_db
            if cross is not None:
                need = lora.SIR_DB[sf - 7][:, None, :]  # the own-SF column stays at -inf
                survives &= ((power[:, :, None] - cross) >= need).all(axis=2)
        return survives

    def _demodulators(self, p: dict, heard: np.ndarray, t: float, pairs: list) -> np.ndarray:
        """Per frame and gateway: whether the frame got one of the gateway's demodulators.

        A gateway locks a free demodulator on every preamble it detects, decodable or not,
        and holds it to the frame's end; a frame that finds all of them taken holds none (the
        SX1301's behaviour, and LoRaSim's): a loss system, whose blocking for Poisson arrivals
        is Erlang B. Decided once per frame, when every frame that started before it is known
        (it started before ``t``), and kept with the frame.
        """
        todo = ~p["adm"] & (p["start"] < t)
        if not todo.any():
            return p["hold"]
        hold = p["hold"].copy()
        # Frames already decided hold what they got; undecided ones at most what they hear.
        upper = np.where(p["adm"][:, None], hold, heard)
        busy = np.zeros(heard.shape, dtype=np.int64)
        for i, j in pairs:
            np.add.at(busy, j, upper[i])
        want = todo[:, None] & heard
        sure = want & (busy < self.demodulators[None, :])
        hold |= sure
        for g in np.flatnonzero((want & ~sure).any(axis=0)):
            self._admit_in_order(p, want[:, g], hold[:, g], int(self.demodulators[g]))
        p["hold"], p["adm"] = hold, p["adm"] | todo
        return hold

    @staticmethod
    def _admit_in_order(p: dict, want: np.ndarray, hold: np.ndarray, slots: int) -> None:
        """One gateway's demodulators handed out in start order where they may run out."""
        ends: list[float] = []  # ends of the frames holding a demodulator (a heap)
        last = int(np.flatnonzero(want & ~hold).max())
        start, end = p["start"][: last + 1].tolist(), p["end"][: last + 1].tolist()
        for f, (s, e) in enumerate(zip(start, end, strict=True)):
            while ends and ends[0] <= s:
                heapq.heappop(ends)
            if want[f] and not hold[f]:
                if len(ends) >= slots:
                    continue
                hold[f] = True
            if hold[f]:
                heapq.heappush(ends, e)

    def _burst_lost(self, p: dict, idx: np.ndarray) -> np.ndarray:
        """Which frames ``idx`` a loss burst takes (a draw per frame and transmission)."""
        lost = np.zeros(len(idx), dtype=bool)
        if self.faults is None or not self.faults.has_bursts:
            return lost
        prob = self.faults.loss_probability(p["start"][idx])
        hit = np.flatnonzero(prob > 0)
        for gi, stream in enumerate(self.streams):
            m = hit[p["gid"][idx[hit]] == gi]
            if len(m):
                f = idx[m]
                counter = (p["k"][f].astype(np.uint64) << np.uint64(4)) + p["att"][f].astype(
                    np.uint64
                )
                lost[m] = stream.uniform(p["node"][f], counter, PURPOSE_LOSS_BURST) < prob[m]
        return lost

    def frames_in_flight(self) -> list[dict]:
        """Frames on the channel not yet settled (for the network's next wake-up)."""
        return ([self.pending] if self.pending is not None else []) + self.new
