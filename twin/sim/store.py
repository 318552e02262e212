"""Store-and-forward: what a LoRaWAN node keeps in flash while it believes its link down.

The node checks its link with uplinks that ask for an answer (LinkCheckReq, or the ACK of a
confirmed uplink): one at least every ``check_period_s``, every uplink after an unanswered
one. After ``failed_checks`` unanswered checks in a row it takes the link for down, stores
its messages, and only probes, once per check period, with a frame of stored messages. Once
answered, stored messages ride along in the next uplinks, oldest first, up to the radio's
maximum payload, and leave flash only when the network has answered the frame that carried
them. A full buffer drops its oldest messages.
"""

from __future__ import annotations

import numpy as np

from twin.plan import StoreAndForward
from twin.sim.metrics import LatencyHistogram
from twin.sim.timebins import TimeBins

# Message kind of a frame that only forwards stored messages (beside the policies' kinds).
BACKLOG = 5


def rounds_of(key: np.ndarray) -> list[np.ndarray]:
    """Split positions into rounds in which each key appears once, keeping their order."""
    srt = np.argsort(key, kind="stable")
    first = np.r_[0, np.flatnonzero(np.diff(key[srt])) + 1]
    rank = np.empty(len(key), dtype=np.int64)
    rank[srt] = np.arange(len(key)) - np.repeat(first, np.diff(np.r_[first, len(key)]))
    return [np.flatnonzero(rank == r) for r in range(int(rank.max(initial=-1)) + 1)]


class MessageStore:
    """Link belief and a FIFO of stored messages per node, in bounded flash.

    Each node that ever stores gets a row of a growable table (most never do): the payload
    size and sample time of each stored message, oldest at ``_head``.

    Parameters
    ----------
    settings : StoreAndForward
        Flash size and the link-check rule.
    n : int
        Number of nodes.
    payload_arr : numpy.ndarray
        Payload of each message kind [bytes] (the smallest sets how many entries fit).
    max_payload_bytes : int
        The radio's largest payload: stored messages ride along up to it.
    bins : TimeBins
        Time-series steps (messages stored, forwarded and dropped per step).
    """

    def __init__(
        self,
        settings: StoreAndForward,
        n: int,
        payload_arr: np.ndarray,
        max_payload_bytes: int,
        bins: TimeBins,
    ) -> None:
        self.settings = settings
        self.buffer_bytes = settings.buffer_bytes
        self.check_period_s = settings.check_period_s
        self.n = n
        self.payload_arr = payload_arr
        self.max_payload_bytes = max_payload_bytes
        self.bins = bins
        self.link_up = np.ones(n, dtype=bool)
        self.unanswered = np.zeros(n, dtype=np.int64)  # consecutive unanswered checks
        self.last_check_s = np.zeros(n)
        # Stored messages riding in a confirmed frame not yet acknowledged (one per node:
        # the batch bound settles a node's frame before its next sample).
        self._inflight = np.zeros(n, dtype=np.int64)
        self.inflight_bytes = np.zeros(n, dtype=np.int64)
        self.stored = self.forwarded = self.dropped_overflow = 0
        self.forward_delay = LatencyHistogram()
        self.stored_bins = bins.zeros()
        self.forwarded_bins = bins.zeros()
        self.dropped_bins = bins.zeros()
        self.capacity = int(settings.buffer_bytes // max(int(payload_arr[:BACKLOG].min()), 1))
        self._row = np.full(n, -1, dtype=np.int64)
        self._size = np.zeros((0, self.capacity), dtype=np.int32)
        self._t = np.zeros((0, self.capacity))
        self._head = np.zeros(0, dtype=np.int64)
        self._len = np.zeros(0, dtype=np.int64)
        self.backlog_bytes = np.zeros(n, dtype=np.int64)

    def backlog(self) -> np.ndarray:
        """Messages each node holds in flash."""
        out = np.zeros(self.n, dtype=np.int64)
        has = self._row >= 0
        out[has] = self._len[self._row[has]]
        return out

    def _rows_for(self, nodes: np.ndarray) -> np.ndarray:
        """Table rows of ``nodes``, allocating rows for nodes storing for the first time."""
        new = nodes[self._row[nodes] < 0]
        if len(new):
            first = len(self._head)
            self._row[new] = first + np.arange(len(new))
            c = self.capacity
            self._size = np.concatenate([self._size, np.zeros((len(new), c), np.int32)])
            self._t = np.concatenate([self._t, np.zeros((len(new), c))])
            self._head = np.r_[self._head, np.zeros(len(new), np.int64)]
            self._len = np.r_[self._len, np.zeros(len(new), np.int64)]
        return self._row[nodes]

    def store(self, nodes, sizes, t_sample, t_now) -> None:
        """Keep messages that could not be sent; a full buffer drops its oldest ones.

        ``nodes`` may repeat: each node's messages are stored in the order given.
        """
        cap_bytes, c, bin_of = self.buffer_bytes, self.capacity, self.bins.of
        t_now = np.broadcast_to(np.asarray(t_now, dtype=float), nodes.shape)
        for r in rounds_of(nodes):
            nd, size, ts = nodes[r], sizes[r].astype(np.int64), t_sample[r]
            row = self._rows_for(nd)
            # A message larger than the whole buffer cannot be kept.
            fits = size <= cap_bytes
            if not fits.all():
                big = int((~fits).sum())
                self.stored += big
                self.dropped_overflow += big
                np.add.at(self.dropped_bins, bin_of(t_now[r][~fits]), 1)
                np.add.at(self.stored_bins, bin_of(t_now[r][~fits]), 1)
            nd, size, ts, row, now = nd[fits], size[fits], ts[fits], row[fits], t_now[r][fits]
            while True:  # drop oldest until the new message fits (bytes and entries)
                full = (self.backlog_bytes[nd] + size > cap_bytes) | (self._len[row] >= c)
                if not full.any():
                    break
                fr, fn = row[full], nd[full]
                self.backlog_bytes[fn] -= self._size[fr, self._head[fr] % c]
                self._head[fr] += 1
                self._len[fr] -= 1
                self.dropped_overflow += len(fr)
                np.add.at(self.dropped_bins, bin_of(now[full]), 1)
            slot = (self._head[row] + self._len[row]) % c
            self._size[row, slot] = size
            self._t[row, slot] = ts
            self._len[row] += 1
            self.backlog_bytes[nd] += size
            self.stored += len(nd)
            np.add.at(self.stored_bins, bin_of(now), 1)

    def _carry(self, nodes: np.ndarray, room_bytes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """How many of their oldest stored messages fit in ``room_bytes``, and their bytes."""
        count = np.zeros(len(nodes), dtype=np.int64)
        total = np.zeros(len(nodes), dtype=np.int64)
        rows = self._row[nodes]
        has = rows >= 0
        c = self.capacity
        idx = np.flatnonzero(has)
        while len(idx):
            r = rows[idx]
            more = count[idx] < self._len[r]
            idx, r = idx[more], r[more]
            size = self._size[r, (self._head[r] + count[idx]) % c]
            fits = total[idx] + size <= room_bytes[idx]
            idx, size = idx[fits], size[fits]
            count[idx] += 1
            total[idx] += size
        return count, total

    def route(self, nodes, t, send, m):
        """Hold the messages of nodes that believe their link down; drain stored ones.

        A node that believes its link down keeps its messages in flash (handed over, as far
        as the policy is concerned) and only probes, once per check period, with a frame of
        stored messages; while the link works, stored messages go out even when the policy
        has nothing to say. Returns ``(send, m, held)``: the kinds to send (``BACKLOG`` for
        a drain), which samples send, and which were held.
        """
        held = m & ~self.link_up[nodes]
        if held.any():
            self.store(nodes[held], self.payload_arr[send[held]], t[held], t[held])
            m = m & ~held
        check_due = t - self.last_check_s[nodes] >= self.check_period_s
        drain = ~m & (self.link_up[nodes] | check_due) & (self.backlog_bytes[nodes] > 0)
        if drain.any():
            send = np.where(drain, BACKLOG, send)
            m = m | drain
        return send, m, held

    def frames(self, nodes, t, kind, phy, confirmed):
        """Stored messages ride along while the link is up; some frames check the link.

        A frame asks for an answer (LinkCheckReq, or the ACK of a confirmed uplink) when it
        carries stored messages (they leave flash only once the network has answered), when
        the node believes the link down (every uplink probes it), or when none asked for
        ``check_period_s``. An unanswered check means the link is down. Returns the frames'
        PHY payloads, which ask for an answer, and the stored bytes they carry.
        """
        up = self.link_up[nodes]
        room = self.max_payload_bytes - self.payload_arr[kind]
        count, extra = self._carry(nodes, np.maximum(room, 0))
        self._inflight[nodes] = count
        self.inflight_bytes[nodes] = extra
        due = t - self.last_check_s[nodes] >= self.check_period_s
        doubt = self.unanswered[nodes] > 0
        confirmed = confirmed | (count > 0) | ~up | due | doubt
        self.last_check_s[nodes[confirmed]] = t[confirmed]
        return phy + extra, confirmed, int(extra.sum())

    def acked(self, nodes: np.ndarray, t_s: np.ndarray) -> None:
        """A confirmed uplink was acknowledged: the link is up; what it carried is through."""
        self.link_up[nodes] = True
        self.unanswered[nodes] = 0
        carried = nodes[self._inflight[nodes] > 0]
        if len(carried):
            rows, c = self._row[carried], self.capacity
            count = self._inflight[carried]
            t_ack = np.asarray(t_s)[self._inflight[nodes] > 0]
            for j in range(int(count.max())):  # oldest first
                m = count > j
                slot = (self._head[rows[m]] + j) % c
                self.forward_delay.add(t_ack[m] - self._t[rows[m], slot])
            self.backlog_bytes[carried] -= self.inflight_bytes[carried]
            self._head[rows] += count
            self._len[rows] -= count
            self.forwarded += int(count.sum())
            np.add.at(self.forwarded_bins, self.bins.of(t_ack), count)
        self._inflight[nodes] = 0
        self.inflight_bytes[nodes] = 0

    def failed(self, nodes, kind, t_sample, t_s) -> None:
        """A check went unanswered (a confirmed uplink: after its last transmission).

        After ``failed_checks`` in a row the node takes the link for down and stores the
        message of the last one; before that, the message counts as sent (it may well have
        arrived: a busy gateway leaves checks unanswered too). Stored messages the frame
        carried stay stored.
        """
        self.unanswered[nodes] += 1
        self.link_up[nodes] &= self.unanswered[nodes] < self.settings.failed_checks
        down = ~self.link_up[nodes]
        nodes, kind, t_sample, t_s = nodes[down], kind[down], t_sample[down], t_s[down]
        self._inflight[nodes] = 0
        self.inflight_bytes[nodes] = 0
        own = kind != BACKLOG
        if own.any():
            self.store(nodes[own], self.payload_arr[kind[own]], t_sample[own], t_s[own])
