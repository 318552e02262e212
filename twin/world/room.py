"""Room occupancy world: a home's daily routine seen by a Wi-Fi thermostat's room sensors.

Each node is one room with a smart thermostat (radiator valve) that should set the heating
back while the room is empty. The room is one of three kinds -- living room, bedroom or home
office -- in a household with its own routine: wake-up, leaving for work, coming back and
bedtime (weekends later and looser), some days worked from home, some evenings out. Each
routine day (04:00 to 04:00) is a plan of four *sessions* per room (e.g. breakfast, working
from home in the morning and in the afternoon, the evening in front of the TV; or the two
halves of the night in a bedroom). A session happens with a probability set by the room kind
and the day's circumstances, starts and ends with jitter, has 1 to 4 people, an activity level
and possibly a short break (someone leaves the room for a few minutes). The plan of a day is a
pure function of the node's household parameters (drawn at set-up) and counter-based random
numbers keyed by ``(node, day)``, so occupancy is reproducible whatever the grouping of calls.

Physics, per room, between two samples (exact exponential relaxation with the people present
averaged over the sample period):

* **CO2** [ppm]: well-mixed single-zone mass balance
  ``dC/dt = n g / V * 1e6 - a (C - C_out)`` with ``g`` ~18 L/h per seated adult (ASHRAE 62.1
  user's manual, 0.0052 L/s), ~25 % less asleep, room volume ``V`` and air change rate ``a``
  (0.3-1.2 /h, ordinary dwellings); occasional airing (window open 10-25 min, ``a`` + 5 /h);
* **humidity**: absolute humidity with the same ventilation, ~45 g/h of water vapour per
  person (ISO 7730-era figures for sedentary adults) plus a household background source;
  relative humidity from the Magnus formula at the room temperature;
* **air temperature** [degC]: first order towards the thermostat's fixed program (comfort or
  setback, the household's *current* practice, not the twin's decisions), plus ~0.15-0.5 K per
  person (body heat ~80 W) and solar gain; time constant 0.7-2.5 h; airing cools the room;
* **PIR motion count** per sample period: Poisson, with a rate proportional to the activity of
  the people present (high while moving about, low at a desk, in front of the TV or asleep),
  plus pets and false triggers in some homes;
* **ambient light** [lux]: daylight through the window (winter sun 07:50-16:25, daily cloud
  cover shared by the site) plus lamps, which people switch on when it is dark and sometimes
  leave on after going out.

Ground truth at a sample: the room is occupied (at least one person in it) at the sample time.
Errors a model cannot avoid come from people sitting still (PIR silent), CO2 and temperature
lagging departures, lights left on, pets, and short absences.

**Actuation** (``actuation=True``, a scenario's ``groups.X.actuation``): from deployment on,
the thermostat heats to the room's comfort temperature while the decision it reads after each
sample says "occupied" and sets back otherwise, instead of following its fixed program. The
outcome of the decisions is then the comfort lost (hours someone is in the room while it is
more than 1 K below comfort) against the heating spent (hours at comfort, and indoor-outdoor
degree-hours, to which a room's heat loss -- and so the heating energy over days -- is
proportional).

Simplifications (stated so users can judge): rooms are independent (no air or people moving
between the rooms of one home), one well-mixed zone per room, no outdoor weather other than a
fixed outdoor humidity per home and site-wide cloud cover, no cooking or shower moisture
peaks, the heating program does not react to occupancy (so the temperature carries only the
body-heat signal on top of the program), a working week Monday-Friday for everyone (day 0 is a
Monday), no holidays. The sample period must be at most 6 h (a sample's period may span at
most two routine days). Heating reaches the room through the same first-order response as
the program (no boost or radiator dynamics).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.rng import NodeStream

DAY_S = 86_400.0
HOUR_S = 3_600.0
DAY_START_H = 4.0  # a routine day runs 04:00 -> 04:00 (night sessions end at 28 h)
N_SLOTS = 4  # sessions per room and day
N_INTERVALS = 2 * N_SLOTS  # each session may be split in two by a break
KINDS = ("living", "bedroom", "office")

# Counters: per-sample draws use k + _CTR_OFFSET, per-day draws day + _CTR_OFFSET, so that
# negative sample indices (history before t = 0) and negative days stay distinct uint64s.
_CTR_OFFSET = 1 << 40
_SITE_NODE = (1 << 40) + 7  # node key of site-wide draws (cloud cover)

# Purposes of the counter-based stream (distinct integers keep streams independent).
_NOISE_TEMP = 1
_NOISE_RH = 2
_NOISE_CO2 = 3
_NOISE_LIGHT = 4
_NOISE_LIGHT_MULT = 5
_PIR = 6
_DAY_WFH = 10
_DAY_EVE_OUT = 11
_DAY_WE_OUT = 12
_DAY_VENT = 13
_DAY_AIR = 14
_DAY_AIR_HOUR = 15
_DAY_AIR_LEN = 16
_DAY_CLOUD = 17
_SLOT_BASE = 100  # slot s, draw j -> 100 + 16 s + j


@dataclass(frozen=True)
class RoomParams:
    """Parameters of the room world (units in names; defaults for a heated home in winter)."""

    kind_probs: tuple[float, float, float] = (0.5, 0.25, 0.25)  # living, bedroom, office
    wake_h: tuple[float, float] = (5.5, 8.0)  # uniform range of weekday wake-up times
    weekend_delay_h: tuple[float, float] = (0.5, 2.5)
    leave_after_wake_h: tuple[float, float] = (0.6, 1.5)
    return_mean_h: float = 17.8
    return_sd_h: float = 0.9
    bed_h: tuple[float, float] = (21.8, 24.8)
    no_wfh_prob: float = 0.45  # share of households that never work from home
    wfh_day_prob: tuple[float, float] = (0.2, 1.0)  # others: share of weekdays at home
    evening_out_prob: tuple[float, float] = (0.05, 0.25)
    weekend_out_prob: tuple[float, float] = (0.2, 0.7)
    residents_probs: tuple[float, float, float, float] = (0.3, 0.35, 0.2, 0.15)  # 1..4
    volume_living_m3: tuple[float, float] = (35.0, 80.0)
    volume_small_m3: tuple[float, float] = (25.0, 45.0)  # bedrooms and offices
    air_changes_per_h: tuple[float, float] = (0.4, 1.2)
    airing_prob_per_day: float = 0.25
    airing_air_changes_per_h: float = 5.0
    airing_cooling_k: float = 5.0
    co2_outdoor_ppm: float = 420.0
    co2_per_person_m3_per_h: float = 0.018  # ASHRAE 62.1: 0.0052 L/s for a seated adult
    co2_sleep_factor: float = 0.75
    vapour_per_person_g_per_h: float = 40.0
    vapour_household_g_per_h: tuple[float, float] = (5.0, 20.0)
    outdoor_abs_humidity_g_m3: tuple[float, float] = (3.5, 6.5)  # ~0-8 degC at 60-90 % RH
    comfort_c: tuple[float, float] = (19.5, 22.0)
    setback_c: tuple[float, float] = (15.5, 18.0)
    thermal_tau_h: tuple[float, float] = (0.7, 2.5)
    person_gain_k: tuple[float, float] = (0.15, 0.5)
    solar_gain_k: tuple[float, float] = (0.0, 1.5)
    sunrise_h: float = 7.83  # ~50 degN in January
    sunset_h: float = 16.42
    window_lux: tuple[float, float] = (30.0, 600.0)  # peak indoor daylight at the sensor
    lamp_lux: tuple[float, float] = (120.0, 450.0)
    dark_lux: float = 150.0  # people switch lamps on below this daylight
    lamp_left_on_prob: float = 0.15
    lamp_left_on_max_h: float = 1.5
    pir_counts_per_period_active: float = 8.0  # one active person, 300 s period
    pir_sensitivity: tuple[float, float] = (0.25, 1.5)  # coverage of the room, mounting
    pet_prob: float = 0.3
    pet_counts_per_period: tuple[float, float] = (0.3, 3.0)
    false_counts_per_period: tuple[float, float] = (0.0, 0.15)
    break_prob: tuple[float, float, float] = (0.5, 0.25, 0.6)  # living, bedroom, office
    break_min: tuple[float, float] = (3.0, 25.0)
    door_open_prob: tuple[float, float, float] = (0.6, 0.3, 0.4)  # living, bedroom, office
    door_open_extra_ach_frac: float = 1.5  # open door: ventilation x 2.5 (exchange with home)
    radiator_bias_k: tuple[float, float] = (0.0, 1.5)  # sensor near the radiator reads high
    warmup_h: float = 24.0  # state is simulated this long before the first sample
    noise_temp_c: float = 0.1
    noise_rh_pct: float = 1.5
    noise_co2_ppm: float = 25.0  # NDIR sensors: +-(30 ppm + 3 %)
    co2_offset_sd_ppm: float = 40.0  # per-sensor calibration offset
    noise_light_frac: float = 0.05
    noise_light_lux: float = 2.0
    # Degree-hours of heat loss are counted against this outdoor temperature (a January day
    # in central Europe: monthly means of 0-3 degC, e.g. DWD 1991-2020 normals).
    outdoor_temp_c: float = 2.0
    cold_margin_k: float = 1.0  # an occupied room this far below comfort counts as cold


def _u(rng: np.random.Generator, lohi: tuple[float, float], n: int) -> np.ndarray:
    return rng.uniform(lohi[0], lohi[1], n)


def saturation_vapour_density_g_m3(temp_c: np.ndarray) -> np.ndarray:
    """Water vapour density at saturation [g/m3] (Magnus formula, Sonntag 1990 constants).

    Parameters
    ----------
    temp_c : numpy.ndarray
        Air temperature [degC].

    Returns
    -------
    numpy.ndarray
        Saturation absolute humidity [g/m3].
    """
    e_hpa = 6.112 * np.exp(17.62 * temp_c / (243.12 + temp_c))
    return 216.7 * e_hpa / (temp_c + 273.15)


def _poisson(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Poisson counts by inverse transform of uniforms ``u`` (exact, vectorised)."""
    lam = np.asarray(lam, dtype=np.float64)
    count = np.zeros(lam.shape, dtype=np.int64)
    pmf = np.exp(-lam)
    cdf = pmf.copy()
    j = 0
    # Stops when every draw is placed: the result does not depend on the batch composition.
    while True:
        more = u > cdf
        if not more.any() or j > 400:
            break
        count += more
        j += 1
        pmf = pmf * lam / j
        cdf = cdf + pmf
    return count


class RoomWorld:
    """Occupancy and room climate for ``n_nodes`` rooms, stepped per sample.

    Node ``i`` samples at ``phase_s[i] + k * period_s`` for ``k = -history_samples, ...``; a
    call to :meth:`sample` must ask each node for its samples in order. Values depend only on
    the node, the sample index and the streams, never on the order or grouping of calls.

    Parameters
    ----------
    params : RoomParams
        World parameters.
    n_nodes : int
        Number of rooms (one thermostat each).
    period_s : float
        Sampling period [s], at most 6 h.
    phase_s : numpy.ndarray
        First sample time of each node [s], in ``[0, period_s)``.
    horizon_s : float
        Simulated horizon [s] (unused: day plans are generated on demand).
    rng : numpy.random.Generator
        Set-up stream (per-room household routine, room and sensor properties).
    stream : twin.rng.NodeStream
        Counter-based stream for day plans and per-sample sensor noise.
    history_samples : int
        Samples taken before ``t = 0`` so a node starts with a full model window.
    actuation : bool
        Heating follows the decisions handed to :meth:`sample` (see the module notes).
    """

    # Registry entry (twin.world.registry): the scenario kind, the parameter class and one
    # line for listings.
    kind = "room"
    params_type = RoomParams
    description = (
        "a room's temperature, humidity, CO2, motion and light seen by a thermostat; "
        "label: occupied"
    )
    channels = ("temp_c", "rh_pct", "co2_ppm", "pir_count", "light_lux")
    # What the twin's decision drives when the scenario closes the loop.
    actuator = "heating setpoint"

    def __init__(
        self,
        params: RoomParams,
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
        if not 0 < period_s <= 6 * HOUR_S:
            raise ValueError(f"period_s must be in (0, 6 h], got {period_s}")
        self.params = p
        self.n_nodes = n = int(n_nodes)
        self.period_s = float(period_s)
        self.phase_s = np.asarray(phase_s, dtype=np.float64)
        self.horizon_s = float(horizon_s)
        self.stream = stream
        self.history_samples = int(history_samples)

        # Household routine (hours of the day; bedtimes after midnight are > 24).
        self.room_kind = rng.choice(len(KINDS), size=n, p=np.asarray(p.kind_probs))
        self.wake_h = _u(rng, p.wake_h, n)
        self.weekend_delay_h = _u(rng, p.weekend_delay_h, n)
        self.leave_h = self.wake_h + _u(rng, p.leave_after_wake_h, n)
        self.return_h = np.clip(rng.normal(p.return_mean_h, p.return_sd_h, n), 15.5, 20.5)
        self.bed_h = _u(rng, p.bed_h, n)
        wfh = _u(rng, p.wfh_day_prob, n)
        self.wfh_prob = np.where(rng.uniform(size=n) < p.no_wfh_prob, 0.0, wfh)
        self.evening_out_prob = _u(rng, p.evening_out_prob, n)
        self.weekend_out_prob = _u(rng, p.weekend_out_prob, n)
        self.residents = 1 + rng.choice(4, size=n, p=np.asarray(p.residents_probs))
        # Room and climate.
        small = _u(rng, p.volume_small_m3, n)
        self.volume_m3 = np.where(self.room_kind == 0, _u(rng, p.volume_living_m3, n), small)
        self.ach_per_h = _u(rng, p.air_changes_per_h, n)
        self.vapour_house_g_h = _u(rng, p.vapour_household_g_per_h, n)
        self.outdoor_abs_hum = _u(rng, p.outdoor_abs_humidity_g_m3, n)
        self.comfort_c = _u(rng, p.comfort_c, n)
        self.setback_c = _u(rng, p.setback_c, n)
        self.tau_s = _u(rng, p.thermal_tau_h, n) * HOUR_S
        self.person_gain_k = _u(rng, p.person_gain_k, n)
        self.solar_gain_k = _u(rng, p.solar_gain_k, n)
        # Sensors and surroundings.
        self.window_lux = _u(rng, p.window_lux, n)
        self.lamp_lux = _u(rng, p.lamp_lux, n)
        self.pir_sensitivity = _u(rng, p.pir_sensitivity, n)
        pet = _u(rng, p.pet_counts_per_period, n)
        self.pet_counts = np.where(rng.uniform(size=n) < p.pet_prob, pet, 0.0)
        self.false_counts = _u(rng, p.false_counts_per_period, n)
        sd = p.co2_offset_sd_ppm
        self.co2_offset_ppm = np.clip(rng.normal(0.0, sd, n), -2.5 * sd, 2.5 * sd)
        self.radiator_bias_k = _u(rng, p.radiator_bias_k, n)
        # Actuation: the valve's decision for the current step (-1: the fixed program).
        self.actuation = bool(actuation)
        self._valve = np.full(n, -1, dtype=np.int8)
        self.cold_occupied_samples = np.zeros(n, dtype=np.int64)
        self.comfort_samples = np.zeros(n, dtype=np.int64)
        self.heat_loss_k_s = np.zeros(n)
        self.cold_occupied_program_samples = np.zeros(n, dtype=np.int64)
        self.heat_loss_program_k_s = np.zeros(n)
        # Rates scale with the period: PIR counts are per sample period.
        self._pir_scale = self.period_s / 300.0

        # Cached day plans: [:, 0] is routine day d - 1, [:, 1] day d (d = self._plan_day).
        self._plan_day = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
        shape = (n, 2, N_INTERVALS)
        self._start = np.zeros(shape)
        self._end = np.zeros(shape)
        self._people = np.zeros(shape)
        self._co2_people = np.zeros(shape)
        self._activity = np.zeros(shape)
        self._lamp_start = np.zeros(shape)
        self._lamp_end = np.zeros(shape)
        self._air_start = np.zeros((n, 2))
        self._air_end = np.zeros((n, 2))
        self._vent = np.ones((n, 2))
        self._door = np.zeros(shape)

        # Room state at the previous sample time; warmed up from a neutral start.
        self._k_next = np.full(n, -self.history_samples, dtype=np.int64)
        n_warm = int(np.ceil(p.warmup_h * HOUR_S / self.period_s))
        nodes = np.arange(n)
        k_first = self._k_next.copy()
        self.co2_ppm = np.full(n, p.co2_outdoor_ppm + 100.0)
        self.temp_c = self.setback_c.copy()
        self.abs_hum = self.outdoor_abs_hum + 1.0
        self.people_avg = np.zeros(n)  # mean number of people over the last period
        self.temp_program_c = self.temp_c.copy()
        for j in range(n_warm, 0, -1):
            self._advance(nodes, self._time(nodes, k_first - j))

    # -- routine -----------------------------------------------------------------------------
    def _time(self, nodes: np.ndarray, k: np.ndarray) -> np.ndarray:
        return self.phase_s[nodes] + k * self.period_s

    @staticmethod
    def routine_day(t_s: np.ndarray) -> np.ndarray:
        """Routine day index of times ``t_s`` (days run 04:00 -> 04:00; day 0 is a Monday).

        Parameters
        ----------
        t_s : numpy.ndarray
            Times [s].

        Returns
        -------
        numpy.ndarray
            int64 day indices.
        """
        return np.floor((np.asarray(t_s) - DAY_START_H * HOUR_S) / DAY_S).astype(np.int64)

    def _plan(self, nodes: np.ndarray, day: np.ndarray) -> dict[str, np.ndarray]:
        """Sessions of routine day ``day`` of each node, as absolute times [s]."""
        p = self.params
        n = len(nodes)
        ctr = (day + _CTR_OFFSET).astype(np.uint64)

        def uni(purpose: int) -> np.ndarray:
            return self.stream.uniform(nodes, ctr, purpose)

        def nrm(purpose: int) -> np.ndarray:
            return np.clip(self.stream.normal(nodes, ctr, purpose), -3.0, 3.0)

        def slot(s: int, j: int) -> int:
            return _SLOT_BASE + 16 * s + j

        kind = self.room_kind[nodes]
        weekend = (day % 7) >= 5
        wfh = ~weekend & (uni(_DAY_WFH) < self.wfh_prob[nodes])
        eve_out = uni(_DAY_EVE_OUT) < self.evening_out_prob[nodes]
        we_out = weekend & (uni(_DAY_WE_OUT) < self.weekend_out_prob[nodes])
        wake = self.wake_h[nodes] + np.where(weekend, self.weekend_delay_h[nodes], 0.0)
        leave = self.leave_h[nodes]
        ret = self.return_h[nodes]
        bed = self.bed_h[nodes]
        j0 = np.stack([nrm(slot(s, 0)) for s in range(N_SLOTS)], axis=1)
        j1 = np.stack([nrm(slot(s, 1)) for s in range(N_SLOTS)], axis=1)
        u1 = np.stack([uni(slot(s, 10)) for s in range(N_SLOTS)], axis=1)

        start = np.zeros((n, N_SLOTS))
        end = np.zeros((n, N_SLOTS))
        prob = np.zeros((n, N_SLOTS))
        act = np.zeros((n, N_SLOTS))
        lamp_p = np.full((n, N_SLOTS), 0.9)
        co2f = np.ones((n, N_SLOTS))

        def put(mask: np.ndarray, s: int, a, b, pr, ac, lp=0.9, cf=1.0) -> None:
            start[mask, s] = np.broadcast_to(a, n)[mask]
            end[mask, s] = np.broadcast_to(b, n)[mask]
            prob[mask, s] = np.broadcast_to(pr, n)[mask]
            act[mask, s] = ac
            lamp_p[mask, s] = lp
            co2f[mask, s] = cf

        # Living room, weekdays: breakfast, working from home (morning, afternoon), evening.
        m = (kind == 0) & ~weekend
        a = wake + 0.15 + 0.15 * j0[:, 0]
        b = np.where(wfh, wake + 1.2 + 0.3 * j1[:, 0], leave - 0.1 + 0.1 * j1[:, 0])
        put(m, 0, a, b, 0.75, 1.0)
        put(m, 1, 9.0 + 0.4 * j0[:, 1], 12.3 + 0.3 * j1[:, 1], np.where(wfh, 0.45, 0.03), 0.15)
        put(m, 2, 13.2 + 0.3 * j0[:, 2], 17.0 + 0.5 * j1[:, 2], np.where(wfh, 0.45, 0.03), 0.15)
        a = np.where(wfh, 17.3 + 0.5 * j0[:, 3], ret + 0.4 + 0.4 * j0[:, 3])
        put(m, 3, a, bed - 0.2 + 0.3 * j1[:, 3], np.where(eve_out, 0.1, 0.93), 0.3)
        # Living room, weekends: late breakfast, midday, afternoon (unless out), evening.
        m = (kind == 0) & weekend
        put(m, 0, wake + 0.2 + 0.2 * j0[:, 0], wake + 1.8 + 0.5 * j1[:, 0], 0.9, 0.8)
        put(m, 1, 12.0 + 0.5 * j0[:, 1], 13.8 + 0.4 * j1[:, 1], np.where(we_out, 0.15, 0.6), 0.5)
        put(m, 2, 14.5 + 0.5 * j0[:, 2], 18.0 + 0.5 * j1[:, 2], np.where(we_out, 0.1, 0.7), 0.4)
        put(m, 3, 18.6 + 0.4 * j0[:, 3], bed + 0.3 * j1[:, 3], np.where(eve_out, 0.1, 0.9), 0.3)
        # Bedroom: end of the night, getting dressed, a rare afternoon nap, start of the night.
        m = kind == 1
        get_up = wake + 0.15 * j1[:, 0]
        sleep_f = p.co2_sleep_factor
        put(m, 0, DAY_START_H, get_up, 0.97, 0.03, lp=0.0, cf=sleep_f)
        put(m, 1, get_up, get_up + 0.15 + 0.25 * u1[:, 1], 0.8, 1.2, lp=0.7)
        put(m, 2, 14.0 + 0.8 * j0[:, 2], 15.5 + 0.8 * j1[:, 2], np.where(weekend, 0.3, 0.08), 0.2)
        put(m, 3, bed + 0.3 * j0[:, 3], DAY_START_H + 24.0, 0.97, 0.04, lp=0.15, cf=sleep_f)
        # Home office: working from home, and an occasional evening at the computer.
        m = kind == 2
        work = np.where(weekend, 0.15, np.where(wfh, 0.9, 0.02))
        put(m, 0, 8.4 + 0.4 * j0[:, 0], 12.0 + 0.3 * j1[:, 0], work, 0.12)
        put(m, 1, 12.8 + 0.3 * j0[:, 1], 17.3 + 0.5 * j1[:, 1], work * 0.95, 0.12)
        put(m, 2, 20.0 + 0.6 * j0[:, 2], 21.5 + 0.6 * j1[:, 2], 0.15, 0.2)
        put(m, 3, 23.0, 23.0, 0.0, 0.0)

        # Sessions are ordered and disjoint within the routine day [04:00, 28:00].
        lo, hi = DAY_START_H, DAY_START_H + 24.0
        start = np.clip(start, lo, hi)
        end = np.clip(end, lo, hi)
        for s in range(N_SLOTS):
            if s:
                start[:, s] = np.maximum(start[:, s], end[:, s - 1])
            end[:, s] = np.maximum(end[:, s], start[:, s])
        present = np.stack([uni(slot(s, 2)) for s in range(N_SLOTS)], axis=1) < prob
        present &= end - start > 0.05
        residents = self.residents[nodes][:, None]
        u_people = np.stack([uni(slot(s, 3)) for s in range(N_SLOTS)], axis=1)
        people = np.minimum(1 + np.floor(u_people * residents), residents).astype(np.float64)
        people = np.where(present, people, 0.0)
        activity = act * np.exp(0.5 * np.stack([nrm(slot(s, 4)) for s in range(N_SLOTS)], 1))

        # A short break splits a session of more than 40 min.
        u_b = np.stack([uni(slot(s, 6)) for s in range(N_SLOTS)], axis=1)
        pos = 0.2 + 0.6 * np.stack([uni(slot(s, 7)) for s in range(N_SLOTS)], axis=1)
        lo_min, hi_min = p.break_min
        length_min = lo_min + (hi_min - lo_min) * np.stack(
            [uni(slot(s, 8)) for s in range(N_SLOTS)], axis=1
        )
        length_min = np.where(kind[:, None] == 1, np.minimum(length_min, 10.0), length_min)
        dur = end - start
        brk = present & (dur > 40 / 60) & (u_b < np.asarray(p.break_prob)[kind][:, None])
        b0 = start + pos * dur
        b1 = np.minimum(b0 + length_min / 60.0, end)
        first_end = np.where(brk, b0, end)
        second_start = np.where(brk, b1, end)

        # An open door while people are in: air exchange with the rest of the home.
        u_door = np.stack([uni(slot(s, 11)) for s in range(N_SLOTS)], axis=1)
        door = np.where(
            u_door < np.asarray(p.door_open_prob)[kind][:, None], p.door_open_extra_ach_frac, 0.0
        )

        # Lamps: switched on for the session (when dark), sometimes left on afterwards.
        lamp = present & (np.stack([uni(slot(s, 5)) for s in range(N_SLOTS)], 1) < lamp_p)
        u_left = np.stack([uni(slot(s, 9)) for s in range(N_SLOTS)], axis=1)
        left_h = np.where(
            u_left < p.lamp_left_on_prob,
            u_left / p.lamp_left_on_prob * p.lamp_left_on_max_h,
            0.0,
        )

        base = day.astype(np.float64)[:, None] * DAY_S

        def to_s(h: np.ndarray) -> np.ndarray:
            return base + h * HOUR_S

        # Absent sessions collapse to zero length.
        s_a, e_a = to_s(start), to_s(np.where(present, first_end, start))
        s_b, e_b = to_s(np.where(present, second_start, start)), to_s(np.where(present, end, start))
        both = np.concatenate
        out = {
            "start": both([s_a, s_b], axis=1),
            "end": both([e_a, e_b], axis=1),
            "people": both([people, people], axis=1),
            "co2_people": both([people * co2f, people * co2f], axis=1),
            "activity": both([activity * np.sqrt(people)] * 2, axis=1),
            "door": both([door, door], axis=1),
            "lamp_start": both([to_s(start), to_s(start)], axis=1),
            "lamp_end": both(
                [to_s(np.where(lamp, end + left_h, start)), to_s(np.where(lamp, end, start))],
                axis=1,
            ),
        }
        # Airing: a window opened once on some days, 10-25 min between 07:00 and 21:00.
        airing = uni(_DAY_AIR) < p.airing_prob_per_day
        a_start = to_s((7.0 + 14.0 * uni(_DAY_AIR_HOUR))[:, None])[:, 0]
        a_len = (10.0 + 15.0 * uni(_DAY_AIR_LEN)) * 60.0
        out["air_start"] = a_start
        out["air_end"] = np.where(airing, a_start + a_len, a_start)
        out["vent"] = 0.7 + 0.8 * uni(_DAY_VENT)  # day-to-day ventilation (wind, doors)
        return out

    def _ensure_plans(self, nodes: np.ndarray, day: np.ndarray) -> None:
        stale = self._plan_day[nodes] != day
        if not stale.any():
            return
        nodes, day = nodes[stale], day[stale]
        for slot, d in ((0, day - 1), (1, day)):
            plan = self._plan(nodes, d)
            self._start[nodes, slot] = plan["start"]
            self._end[nodes, slot] = plan["end"]
            self._people[nodes, slot] = plan["people"]
            self._co2_people[nodes, slot] = plan["co2_people"]
            self._activity[nodes, slot] = plan["activity"]
            self._lamp_start[nodes, slot] = plan["lamp_start"]
            self._lamp_end[nodes, slot] = plan["lamp_end"]
            self._air_start[nodes, slot] = plan["air_start"]
            self._air_end[nodes, slot] = plan["air_end"]
            self._vent[nodes, slot] = plan["vent"]
            self._door[nodes, slot] = plan["door"]
        self._plan_day[nodes] = day

    # -- physics -----------------------------------------------------------------------------
    def occupied(self, nodes: np.ndarray, t_s: np.ndarray) -> np.ndarray:
        """Whether each room is occupied at ``t_s`` (one time per node, any routine day).

        Parameters
        ----------
        nodes : numpy.ndarray
            Node indices.
        t_s : numpy.ndarray
            One time per node [s].

        Returns
        -------
        numpy.ndarray
            bool, True if at least one person is in the room.
        """
        nodes = np.asarray(nodes, dtype=np.int64)
        t = np.asarray(t_s, dtype=np.float64)
        d = self.routine_day(t)
        plan = self._plan(nodes, d)
        prev = self._plan(nodes, d - 1)
        s = np.concatenate([plan["start"], prev["start"]], axis=1)
        e = np.concatenate([plan["end"], prev["end"]], axis=1)
        return np.any((s <= t[:, None]) & (t[:, None] < e), axis=1)

    def _hour_in_day(self, t: np.ndarray) -> np.ndarray:
        """Hour of the routine day in [4, 28)."""
        h = (t % DAY_S) / HOUR_S
        return np.where(h < DAY_START_H, h + 24.0, h)

    def setpoint_c(self, nodes: np.ndarray, t_s: np.ndarray) -> np.ndarray:
        """Heating setpoint of the thermostat's fixed weekly program [degC].

        Parameters
        ----------
        nodes : numpy.ndarray
            Node indices.
        t_s : numpy.ndarray
            Times [s].

        Returns
        -------
        numpy.ndarray
            Comfort temperature inside the programmed periods, setback outside.
        """
        h = self._hour_in_day(t_s)
        weekend = (self.routine_day(t_s) % 7) >= 5
        wake, leave = self.wake_h[nodes], self.leave_h[nodes]
        ret, bed = self.return_h[nodes], self.bed_h[nodes]
        weekday_on = ((h >= wake - 0.5) & (h < leave)) | ((h >= ret - 0.5) & (h < bed))
        weekend_on = (h >= wake + self.weekend_delay_h[nodes] - 0.5) & (h < bed)
        home = np.where(weekend, weekend_on, weekday_on)
        office_on = ~weekend & (h >= 8.0) & (h < 17.5) & (self.wfh_prob[nodes] > 0)
        on = np.where(self.room_kind[nodes] == 2, office_on | (home & weekend), home)
        return np.where(on, self.comfort_c[nodes], self.setback_c[nodes])

    def heating_setpoint_c(self, nodes: np.ndarray, t_s: np.ndarray) -> np.ndarray:
        """Setpoint the room is heated to: the program, or the twin's decision (actuation)."""
        program = self.setpoint_c(nodes, t_s)
        valve = self._valve[nodes]
        decided = np.where(valve > 0, self.comfort_c[nodes], self.setback_c[nodes])
        return np.where(valve >= 0, decided, program)

    def outcomes(self) -> dict[str, np.ndarray]:
        """Per-room totals since deployment of what the heating decisions did."""
        h = self.period_s / HOUR_S
        return {
            "cold_occupied_h": self.cold_occupied_samples * h,
            "comfort_heating_h": self.comfort_samples * h,
            "heat_loss_degree_h": self.heat_loss_k_s / HOUR_S,
            # The same rooms, people and weather under the household's fixed program.
            "cold_occupied_program_h": self.cold_occupied_program_samples * h,
            "heat_loss_program_degree_h": self.heat_loss_program_k_s / HOUR_S,
        }

    def daylight_lux(self, nodes: np.ndarray, t_s: np.ndarray) -> np.ndarray:
        """Daylight at the sensor [lux]: winter sun arc times the day's site cloud cover.

        Parameters
        ----------
        nodes : numpy.ndarray
            Node indices.
        t_s : numpy.ndarray
            Times [s].

        Returns
        -------
        numpy.ndarray
            Illuminance from daylight [lux].
        """
        p = self.params
        h = (t_s % DAY_S) / HOUR_S
        day = np.floor(t_s / DAY_S).astype(np.int64)
        site = np.full(len(day), _SITE_NODE, dtype=np.uint64)
        cloud = 0.2 + 0.8 * self.stream.uniform(
            site, (day + _CTR_OFFSET).astype(np.uint64), _DAY_CLOUD
        )
        arc = np.sin(np.pi * (h - p.sunrise_h) / (p.sunset_h - p.sunrise_h))
        return self.window_lux[nodes] * cloud * np.clip(arc, 0.0, None)

    def _advance(self, nodes: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """Step the room state from ``t - period`` to ``t``; return period averages."""
        p = self.params
        dt = self.period_s
        t0 = t - dt
        self._ensure_plans(nodes, self.routine_day(t))
        tt, tt0 = t[:, None, None], t0[:, None, None]
        ov = np.clip(
            np.minimum(self._end[nodes], tt) - np.maximum(self._start[nodes], tt0), 0, None
        )
        ov = (ov / dt).reshape(len(nodes), -1)
        people = np.sum(ov * self._people[nodes].reshape(len(nodes), -1), axis=1)
        co2_people = np.sum(ov * self._co2_people[nodes].reshape(len(nodes), -1), axis=1)
        activity = np.sum(ov * self._activity[nodes].reshape(len(nodes), -1), axis=1)
        air = (
            np.clip(
                np.minimum(self._air_end[nodes], t[:, None])
                - np.maximum(self._air_start[nodes], t0[:, None]),
                0,
                None,
            ).sum(axis=1)
            / dt
        )
        door = np.sum(ov * self._door[nodes].reshape(len(nodes), -1), axis=1)
        vent = self._vent[nodes, 1] * (1.0 + door)

        volume = self.volume_m3[nodes]
        a = (self.ach_per_h[nodes] * vent + air * p.airing_air_changes_per_h) / HOUR_S  # 1/s
        decay = np.exp(-a * dt)
        gen = co2_people * p.co2_per_person_m3_per_h / HOUR_S * 1e6 / volume  # ppm/s
        c_eq = p.co2_outdoor_ppm + gen / a
        self.co2_ppm[nodes] = c_eq + (self.co2_ppm[nodes] - c_eq) * decay
        vapour = (people * p.vapour_per_person_g_per_h + self.vapour_house_g_h[nodes]) / HOUR_S
        w_eq = self.outdoor_abs_hum[nodes] + vapour / (a * volume)
        self.abs_hum[nodes] = w_eq + (self.abs_hum[nodes] - w_eq) * decay
        tm = t - 0.5 * dt
        sun = self.daylight_lux(nodes, tm) / self.params.window_lux[1]

        def equilibrium_c(setpoint_c: np.ndarray) -> np.ndarray:
            return (
                setpoint_c
                + self.person_gain_k[nodes] * people
                + self.solar_gain_k[nodes] * sun
                - p.airing_cooling_k * air
            )

        t_eq = equilibrium_c(self.heating_setpoint_c(nodes, tm))
        relax = np.exp(-dt / self.tau_s[nodes])
        self.temp_c[nodes] = t_eq + (self.temp_c[nodes] - t_eq) * relax
        if self.actuation:
            # The same room under the household's fixed program: the reference outcome.
            t_eq_program = equilibrium_c(self.setpoint_c(nodes, tm))
            self.temp_program_c[nodes] = (
                t_eq_program + (self.temp_program_c[nodes] - t_eq_program) * relax
            )
        self.people_avg[nodes] = people
        return {"people": people, "activity": activity}

    # -- sampling ----------------------------------------------------------------------------
    def sample(
        self, nodes: np.ndarray, control: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Take the next sample of each node in ``nodes`` (unique indices).

        ``control`` (actuation only): the decision each node's thermostat read after its
        previous sample (1 = occupied: heat to comfort), which sets the heating until this one.

        Returns
        -------
        readings : numpy.ndarray
            ``(len(nodes), 5)`` float32: air temperature [degC], relative humidity [%], CO2
            [ppm], PIR motion count over the last period, ambient light [lux].
        occupied : numpy.ndarray
            Ground truth (bool): someone is in the room at the sample time.
        """
        p = self.params
        nodes = np.asarray(nodes, dtype=np.int64)
        k = self._k_next[nodes]
        t = self._time(nodes, k)
        if self.actuation and control is not None:
            self._valve[nodes] = np.where(k >= 1, np.asarray(control) > 0, -1)
        avg = self._advance(nodes, t)

        start = self._start[nodes].reshape(len(nodes), -1)
        end = self._end[nodes].reshape(len(nodes), -1)
        occupied = np.any((start <= t[:, None]) & (t[:, None] < end), axis=1)
        lamp_on = np.any(
            (self._lamp_start[nodes].reshape(len(nodes), -1) <= t[:, None])
            & (t[:, None] < self._lamp_end[nodes].reshape(len(nodes), -1)),
            axis=1,
        )
        daylight = self.daylight_lux(nodes, t)
        light = daylight + np.where(lamp_on & (daylight < p.dark_lux), self.lamp_lux[nodes], 0.0)

        ctr = (k + _CTR_OFFSET).astype(np.uint64)
        s = self.stream
        pir_rate = self._pir_scale * (
            self.pir_sensitivity[nodes] * p.pir_counts_per_period_active * avg["activity"]
            + self.pet_counts[nodes]
            + self.false_counts[nodes]
        )
        readings = np.empty((len(nodes), len(self.channels)), dtype=np.float32)
        temp = self.temp_c[nodes]
        # The valve's sensor sits near the radiator: it reads high while the radiator heats.
        setpoint = self.heating_setpoint_c(nodes, t)
        demand = np.clip(setpoint - temp + 0.5, 0.0, 1.0)
        sensed = temp + self.radiator_bias_k[nodes] * demand
        readings[:, 0] = sensed + p.noise_temp_c * s.normal(nodes, ctr, _NOISE_TEMP)
        rh = 100.0 * self.abs_hum[nodes] / saturation_vapour_density_g_m3(temp)
        readings[:, 1] = np.clip(rh + p.noise_rh_pct * s.normal(nodes, ctr, _NOISE_RH), 0, 100)
        co2 = self.co2_ppm[nodes] + self.co2_offset_ppm[nodes]
        readings[:, 2] = np.maximum(co2 + p.noise_co2_ppm * s.normal(nodes, ctr, _NOISE_CO2), 0)
        readings[:, 3] = _poisson(s.uniform(nodes, ctr, _PIR), pir_rate)
        mult = 1.0 + p.noise_light_frac * s.normal(nodes, ctr, _NOISE_LIGHT_MULT)
        noisy = light * mult + p.noise_light_lux * s.normal(nodes, ctr, _NOISE_LIGHT)
        readings[:, 4] = np.maximum(noisy, 0.0)
        if self.actuation:
            deployed = k >= 1  # the step that ended here was the decision's (k - 1 -> k)
            cold = occupied & (temp < self.comfort_c[nodes] - p.cold_margin_k)
            self.cold_occupied_samples[nodes] += deployed & cold
            self.comfort_samples[nodes] += deployed & (self._valve[nodes] > 0)
            self.heat_loss_k_s[nodes] += np.where(
                deployed, np.maximum(temp - p.outdoor_temp_c, 0.0) * self.period_s, 0.0
            )
            temp_program = self.temp_program_c[nodes]
            cold_program = occupied & (temp_program < self.comfort_c[nodes] - p.cold_margin_k)
            self.cold_occupied_program_samples[nodes] += deployed & cold_program
            self.heat_loss_program_k_s[nodes] += np.where(
                deployed, np.maximum(temp_program - p.outdoor_temp_c, 0.0) * self.period_s, 0.0
            )
        self._k_next[nodes] = k + 1
        return readings, occupied

    def true_state(self, nodes: np.ndarray) -> dict[str, np.ndarray]:
        """Noise-free room state at each node's last sample (for diagnostics and tests).

        Parameters
        ----------
        nodes : numpy.ndarray
            Node indices.

        Returns
        -------
        dict
            ``co2_ppm``, ``temp_c``, ``abs_humidity_g_m3`` and ``people_avg`` (mean number
            of people over the period ending at the sample) arrays.
        """
        nodes = np.asarray(nodes, dtype=np.int64)
        return {
            "co2_ppm": self.co2_ppm[nodes].copy(),
            "temp_c": self.temp_c[nodes].copy(),
            "abs_humidity_g_m3": self.abs_hum[nodes].copy(),
            "people_avg": self.people_avg[nodes].copy(),
        }
