"""Soil moisture world: root-zone water balance per node, with ground truth.

Each node watches its own irrigation zone. The volumetric water content ``theta`` [m3/m3] of
the root zone follows a daily water balance in the spirit of FAO-56 (Allen et al., "Crop
evapotranspiration", FAO Irrigation and Drainage Paper 56, 1998, ch. 8):

* evapotranspiration removes water during daylight, following a half-sine over 06:00-18:00,
  scaled by soil temperature and by the water-stress coefficient
  ``Ks = (theta - theta_wp) / ((1 - p) (theta_fc - theta_wp))`` (FAO-56 eq. 84), capped at 1;
* rain events (site-wide, Poisson in time, exponential depth) refill the zone up to field
  capacity, with a per-node infiltration factor;
* the farm's existing practice irrigates a zone at 06:00 when its moisture is below the
  refill point ``theta_crit = theta_fc - p (theta_fc - theta_wp)`` (FAO-56 readily available
  water, p = 0.5).

**Actuation** (``actuation=True``, a scenario's ``groups.X.actuation``): from deployment on,
the valve follows the twin's decision instead of that practice. At each sample the valve
controller reads the decision then acting; if it says "irrigate" at the node's last sample
before 06:00, the zone gets ``irrigation_mm`` at 06:00 (water above field capacity drains away
and is counted as wasted). A late or wrong decision therefore shows up as crop water stress
(hours with ``theta < theta_crit``, where FAO-56's stress coefficient ``Ks`` drops below 1) or as
water applied and drained for nothing. The ground truth stays "this zone needs irrigation
within 6 h *unless it is watered*": the moisture path ahead of a sample is the one without
further irrigation, and it is recomputed when the valve opens.

Ground truth at a sample: "this zone needs irrigation within 6 h", i.e. the true moisture is
below ``theta_crit`` now or will fall below it within the next 6 h.

Simplifications (stated so users can judge): one soil layer, no drainage below field capacity
other than the cap, no runoff, site-wide weather (rain timing is shared; depth reaching each
zone varies); without actuation, twin's own decisions do not feed back into the world (the
world's irrigation is the farm's current practice, the ground truth is what an ideal controller
would know); with it, before deployment (t < 0) the zones follow the farm's practice.
Sensor readings add Gaussian noise (capacitive probe ~0.5 % VWC, thermistor 0.2 K).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.arrays import runs
from twin.rng import NodeStream

DAY_S = 86_400.0
HOUR_S = 3_600.0

# Purposes of the counter-based node stream (distinct integers keep streams independent).
_NOISE_MOISTURE = 1
_NOISE_TEMP = 2


@dataclass(frozen=True)
class SoilParams:
    """Parameters of the soil world (units in names, defaults for a loam under a summer crop)."""

    field_capacity_vwc: float = 0.32
    field_capacity_sd_vwc: float = 0.02
    wilting_point_vwc: float = 0.12
    wilting_point_sd_vwc: float = 0.015
    depletion_fraction: float = 0.5  # FAO-56 p for most field crops (Table 22)
    root_depth_mm: float = 200.0
    et_mm_per_day: float = 5.0  # FAO-56 reference ET for a warm, dry summer day
    et_sd_frac: float = 0.15  # per-node variation of crop water use
    temp_mean_c: float = 21.0
    temp_node_sd_c: float = 1.5
    temp_daily_amplitude_c: float = 4.0
    temp_day_sd_c: float = 2.0
    et_temp_coeff_per_c: float = 0.04
    rain_events_per_day: float = 0.2
    rain_mean_mm: float = 10.0
    irrigation_hour: float = 6.0
    irrigation_mm: float = 30.0
    horizon_truth_s: float = 6 * HOUR_S
    noise_moisture_vwc: float = 0.005
    noise_temp_c: float = 0.2


class SoilWorld:
    """Soil moisture and soil temperature for ``n_nodes`` zones, stepped per sample.

    Node ``i`` samples at ``phase_s[i] + k * period_s`` for ``k = 0, 1, ...``; a call to
    :meth:`sample` must ask each node for its samples in order. Values depend only on the
    node, the sample index and the streams, never on the order or grouping of calls.

    Parameters
    ----------
    params : SoilParams
        World parameters.
    n_nodes : int
        Number of zones (one sensor each).
    period_s : float
        Sampling period [s].
    phase_s : numpy.ndarray
        First sample time of each node [s], in ``[0, period_s)``.
    horizon_s : float
        Simulated horizon [s]; weather is drawn for it (plus lookahead).
    rng : numpy.random.Generator
        Set-up stream (per-node soil properties, weather).
    stream : twin.rng.NodeStream
        Counter-based stream for per-sample sensor noise.
    history_samples : int
        Samples simulated before ``t = 0`` so a node starts with a full model window.
    actuation : bool
        The valve follows the decisions handed to :meth:`sample` (see the module notes).
    """

    # Registry entry (twin.world.registry): the scenario kind, the parameter class and one
    # line for listings.
    kind = "soil"
    params_type = SoilParams
    description = (
        "soil moisture and temperature of irrigated zones (FAO-56 water balance); "
        "label: needs irrigation within 6 h"
    )
    # What the twin's decision drives when the scenario closes the loop.
    actuator = "irrigation valve"

    channels = ("moisture_vwc", "soil_temp_c")

    def __init__(
        self,
        params: SoilParams,
        n_nodes: int,
        period_s: float,
        phase_s: np.ndarray,
        horizon_s: float,
        rng: np.random.Generator,
        stream: NodeStream,
        history_samples: int = 0,
        actuation: bool = False,
    ) -> None:
        p = params
        self.params = p
        self.actuation = bool(actuation)
        # Outcome of the decisions (actuation only), per zone from t = 0.
        self.water_applied_mm = np.zeros(n_nodes)
        self.water_drained_mm = np.zeros(n_nodes)
        self.irrigations = np.zeros(n_nodes, dtype=np.int64)
        self.stress_samples = np.zeros(n_nodes, dtype=np.int64)
        self.n_nodes = n_nodes
        self.period_s = float(period_s)
        self.phase_s = np.asarray(phase_s, dtype=np.float64)
        self.stream = stream
        self.history_samples = int(history_samples)
        self.lookahead = int(np.ceil(p.horizon_truth_s / self.period_s))

        self.fc = np.clip(
            rng.normal(p.field_capacity_vwc, p.field_capacity_sd_vwc, n_nodes), 0.2, 0.5
        )
        self.wp = np.clip(
            rng.normal(p.wilting_point_vwc, p.wilting_point_sd_vwc, n_nodes), 0.05, 0.18
        )
        self.crit = self.fc - p.depletion_fraction * (self.fc - self.wp)
        self.et_mm_day = p.et_mm_per_day * np.clip(rng.normal(1.0, p.et_sd_frac, n_nodes), 0.5, 1.5)
        self.infiltration = rng.uniform(0.7, 1.0, n_nodes)
        self.temp_offset_c = rng.normal(0.0, p.temp_node_sd_c, n_nodes)

        t0 = -self.history_samples * self.period_s - self.period_s
        t1 = horizon_s + (self.lookahead + 2) * self.period_s + DAY_S
        n_days = int(np.ceil((t1 - t0) / DAY_S)) + 2
        self._day0 = int(np.floor(t0 / DAY_S)) - 1
        self.day_temp_c = rng.normal(0.0, p.temp_day_sd_c, n_days)
        n_rain = rng.poisson(p.rain_events_per_day * (t1 - t0) / DAY_S)
        rain_t = np.sort(rng.uniform(t0, t1, n_rain))
        rain_mm = rng.exponential(p.rain_mean_mm, n_rain)
        self.rain_t = rain_t
        self._rain_cum = np.concatenate([[0.0], np.cumsum(rain_mm)])

        # Ring of true moisture for samples k .. k + lookahead, one row per slot (slot = index
        # mod width): a run of consecutive nodes at the same sample reads and writes one
        # contiguous row, and the lookahead minimum is an element-wise minimum over rows.
        self.width = self.lookahead + 1
        self._ring = np.empty((self.width, n_nodes))
        self._k_next = np.full(n_nodes, -self.history_samples, dtype=np.int64)
        start = np.clip(rng.uniform(self.crit, self.fc), 0.0, None)
        nodes = np.arange(n_nodes)
        k = self._k_next.copy()
        theta = start
        for j in range(self.width):
            self._ring[(k + j) % self.width, nodes] = theta
            theta = self._step(nodes, k + j, theta)
        self._theta_last = theta  # moisture at k + width (not yet stored)
        # Ring entries below the refill point, per node: the ground truth is "any", kept up to
        # date as slots change instead of a minimum over the whole ring at every sample.
        self._below = (self._ring < self.crit).sum(axis=0)

    # -- physics -----------------------------------------------------------------------------
    def _time(self, nodes: np.ndarray | slice, k: np.ndarray | int) -> np.ndarray:
        return self.phase_s[nodes] + k * self.period_s

    def soil_temp_c(self, nodes: np.ndarray, t_s: np.ndarray) -> np.ndarray:
        """True soil temperature at 10 cm [degC] (daily cycle peaking 15:00, per-day weather)."""
        day, hour = _day_and_hour(t_s)
        return self._temp_c(nodes, day, hour)

    def _temp_c(self, nodes: np.ndarray | slice, day: np.ndarray, hour: np.ndarray) -> np.ndarray:
        p = self.params
        cycle = np.sin(2 * np.pi * (hour - 9.0) / 24.0)
        cycle *= p.temp_daily_amplitude_c
        day_c = self.day_temp_c[day.astype(np.int64) - self._day0]
        return p.temp_mean_c + self.temp_offset_c[nodes] + day_c + cycle

    def _step(
        self, nodes: np.ndarray | slice, k: np.ndarray | int, theta: np.ndarray
    ) -> np.ndarray:
        """Moisture at sample ``k + 1`` from sample ``k`` (explicit Euler, dt = period).

        ``nodes`` is an index array or a slice; ``theta`` is not modified.
        """
        p = self.params
        t0 = self._time(nodes, k)
        t1 = t0 + self.period_s
        tm = 0.5 * (t0 + t1)
        day, hour = _day_and_hour(tm)
        # Half-sine ET shape over 06:00-18:00; sin only where it is daylight (zero elsewhere).
        shape = np.zeros_like(hour)
        np.sin(np.pi * (hour - 6) / 12, out=shape, where=(hour > 6) & (hour < 18))
        shape *= np.pi
        shape /= 24
        temp = self._temp_c(nodes, day, hour)
        temp_factor = np.clip(1 + p.et_temp_coeff_per_c * (temp - p.temp_mean_c), 0.2, None)
        fc, wp = self.fc[nodes], self.wp[nodes]
        ks = np.clip((theta - wp) / ((1 - p.depletion_fraction) * (fc - wp)), 0.0, 1.0)
        et_mm = self.et_mm_day[nodes] * shape * temp_factor * ks * (self.period_s / HOUR_S)
        # Rain in (t0, t1]: no event between the earliest start and the latest end (most
        # steps; searchsorted is monotone) gives the same zeros as the per-node lookups.
        if t0.size and np.searchsorted(self.rain_t, t0.min()) == np.searchsorted(
            self.rain_t, t0.max() + self.period_s
        ):
            rain_mm = 0.0
        else:
            rain_mm = (
                self._rain_cum[np.searchsorted(self.rain_t, t1)]
                - self._rain_cum[np.searchsorted(self.rain_t, t0)]
            )
        theta = theta + (rain_mm * self.infiltration[nodes] - et_mm) / p.root_depth_mm
        # The farm's practice only before deployment with actuation (then the valve decides).
        practice = not (self.actuation and t0.min(initial=0.0) >= 0)
        if practice and self._may_cross_irrigation(t0, self.period_s):
            irrigate = self._crosses_irrigation(t0, t1) & (theta < self.crit[nodes])
            if self.actuation:
                irrigate &= t0 < 0
            theta = theta + np.where(irrigate, p.irrigation_mm / p.root_depth_mm, 0.0)
        return np.clip(theta, wp * 0.8, fc)

    # -- sampling ----------------------------------------------------------------------------
    def _crosses_irrigation(self, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        """The day's irrigation hour falls in ``(t0, t1]``."""
        h = self.params.irrigation_hour * HOUR_S
        return np.floor((t1 - h) / DAY_S) > np.floor((t0 - h) / DAY_S)

    def _may_cross_irrigation(self, t0: np.ndarray, dt_s: float) -> bool:
        """False when no ``(t0, t0 + dt_s]`` can cross the irrigation hour (then skip the test).

        ``floor((t - h) / day)`` is non-decreasing in ``t`` in floating point too, so if it is
        the same at the earliest start and the latest end, :meth:`_crosses_irrigation` is
        False for every node.
        """
        if t0.size == 0:
            return False
        h = self.params.irrigation_hour * HOUR_S
        return np.floor((t0.max() + dt_s - h) / DAY_S) > np.floor((t0.min() - h) / DAY_S)

    def _actuate(
        self, nodes: np.ndarray | slice, k: np.ndarray | int, control: np.ndarray, t: np.ndarray
    ) -> None:
        """Water the zones whose valve read "irrigate" after sample ``k - 1``, then re-plan.

        The water lands in the step ``k - 1 -> k`` (06:00 lies in it), so sample ``k`` sees it;
        the moisture path ahead is recomputed from there. ``t``: the time of sample ``k``.
        """
        p = self.params
        if not self._may_cross_irrigation(t - self.period_s, self.period_s):
            return  # most samples: 06:00 is not in any node's last step
        water = (
            (k >= 1) & (np.asarray(control) > 0) & self._crosses_irrigation(t - self.period_s, t)
        )
        if not water.any():
            return
        nodes = np.arange(self.n_nodes)[nodes][water]
        k = np.broadcast_to(k, water.shape)[water]
        slot = k % self.width
        fc = self.fc[nodes]
        wet = self._ring[slot, nodes] + p.irrigation_mm / p.root_depth_mm
        self.water_applied_mm[nodes] += p.irrigation_mm
        self.water_drained_mm[nodes] += np.maximum(wet - fc, 0.0) * p.root_depth_mm
        self.irrigations[nodes] += 1
        theta = np.minimum(wet, fc)
        self._ring[slot, nodes] = theta
        for j in range(1, self.width + 1):
            theta = self._step(nodes, k + j - 1, theta)
            if j < self.width:
                self._ring[(k + j) % self.width, nodes] = theta
        self._theta_last[nodes] = theta
        self._below[nodes] = (self._ring[:, nodes] < self.crit[nodes]).sum(axis=0)

    def outcomes(self) -> dict[str, np.ndarray]:
        """Per-zone totals since deployment of what the valve's decisions did."""
        return {
            "water_applied_mm": self.water_applied_mm.copy(),
            "water_drained_mm": self.water_drained_mm.copy(),
            "irrigations": self.irrigations.astype(float),
            # FAO-56: below the refill point Ks < 1 and the crop transpires less than it could.
            "water_stress_h": self.stress_samples * self.period_s / HOUR_S,
        }

    def sample(
        self, nodes: np.ndarray, control: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Take the next sample of each node in ``nodes`` (unique indices).

        ``control`` (actuation only): the decision each node's valve read after its previous
        sample (1 = irrigate).

        Returns
        -------
        readings : numpy.ndarray
            ``(len(nodes), 2)`` float32: noisy moisture [m3/m3] and soil temperature [degC].
        needs_irrigation : numpy.ndarray
            Ground truth (bool): moisture below the refill point now or within 6 h.
        """
        nodes = np.asarray(nodes, dtype=np.int64)
        k = self._k_next[nodes]
        readings = np.empty((len(nodes), 2), dtype=np.float32)
        truth = np.empty(len(nodes), dtype=bool)
        act = self.actuation and control is not None
        if act:
            control = np.asarray(control)
        # Every value is a function of (node, k) alone, so each run of consecutive nodes at
        # the same k is handled on its own, with slices (views) instead of gathers.
        for i0, i1, rows, kk in runs(nodes, k):
            self._sample_run(
                rows, kk, control[i0:i1] if act else None, readings[i0:i1], truth[i0:i1]
            )
        return readings, truth

    def _sample_run(
        self,
        rows: np.ndarray | slice,
        k: np.ndarray | int,
        control: np.ndarray | None,
        readings: np.ndarray,
        truth: np.ndarray,
    ) -> None:
        """:meth:`sample` for ``rows`` (a slice with one ``k``, or index arrays), into outputs."""
        p = self.params
        t = self._time(rows, k)
        if control is not None:
            self._actuate(rows, k, control, t)
        slot = k % self.width
        theta = self._ring[slot, rows]  # (a view for a slice: used before the slot is rewritten)
        crit = self.crit[rows]
        dry = theta < crit
        np.greater(self._below[rows], 0, out=truth)
        if self.actuation:
            self.stress_samples[rows] += (k >= 1) & dry
        if isinstance(rows, slice):
            ctr = np.uint64(k + self.history_samples)
        else:
            ctr = (k + self.history_samples).astype(np.uint64)
        noise = self.stream.normal(rows, ctr, _NOISE_MOISTURE)
        noise *= p.noise_moisture_vwc
        noise += theta
        readings[:, 0] = noise
        day, hour = _day_and_hour(t)
        noise = self.stream.normal(rows, ctr, _NOISE_TEMP)
        noise *= p.noise_temp_c
        noise += self._temp_c(rows, day, hour)
        readings[:, 1] = noise
        # Advance: the slot of sample k now holds sample k + width.
        last = self._theta_last[rows]
        self._ring[slot, rows] = last
        self._below[rows] += (last < crit).astype(np.int64) - dry
        self._theta_last[rows] = self._step(rows, k + self.width, last)
        self._k_next[rows] = k + 1

    def true_moisture(self, nodes: np.ndarray) -> np.ndarray:
        """True moisture at each node's next sample (for diagnostics and tests)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        return self._ring[self._k_next[nodes] % self.width, nodes]


def _day_and_hour(t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``floor(t / day)`` and ``(t % day) / hour``, bit for bit as numpy computes them.

    numpy's float ``%`` goes through ``fmod`` and costs several times this. ``t - q * day``
    with ``q = floor(t / day)`` is exact (``q * day`` is an integer and the difference is a
    multiple of the spacing of ``t``), or, for ``t < 0``, the same single rounding of the exact
    remainder that ``fmod(t, day) + day`` makes. ``t / day`` can only round up onto an integer
    (never down past one), so the one correction needed is adding a day to a negative result,
    which is again exact or that same single rounding.
    """
    q = np.floor(t_s / DAY_S)
    r = np.asarray(t_s - q * DAY_S)  # (an array even for a scalar time, for the in-place ops)
    np.add(r, DAY_S, out=r, where=r < 0)
    r /= HOUR_S
    return q, r
