"""Camera world: 32 x 32 grayscale frames of indoor/entrance scenes, with "person in view" truth.

Each node is a battery camera that captures one frame every ``period_s`` (default 30 s: a
duty-cycled always-on "visual wake word" camera in the style of MLPerf Tiny VWW, Chowdhery et al.,
"Visual Wake Words Dataset", 2019; a PIR-triggered camera would capture far fewer frames, mostly
with motion in them, and see a much higher positives rate). The observation is the whole frame,
1024 values in ``[0, 1]`` (8-bit levels / 255), row-major, channels ``px_0`` .. ``px_1023``.

A frame is rendered per node and sample with numpy, vectorised over nodes:

* **Scene** (drawn once per camera in ``__init__``): wall and floor split at a horizon line, a
  brightness gradient, low-frequency texture and fine grain, rectangles (furniture, pictures,
  windows), sometimes a door or a coat stand (tall, person-like shapes that are not persons) and
  a foreground object (sofa back, table, railing) that hides the lower body of a person behind it.
* **Illumination** (per sample): daylight through a window (a ramp across the frame, half-sine
  between sunrise and sunset), room lights on in the evening (per camera and day, radial
  falloff from a lamp), an infrared illuminator when it is dark. The camera's auto exposure
  scales the frame to a target mean, up to a maximum gain, so dark frames are noisy: sensor
  noise has read (gain-amplified) and shot components, then 8-bit quantisation.
* **Distractors** (per sample): a pet-sized blob on the floor (cameras with a pet), a soft
  moving shadow band, a swinging hanging object, a TV whose brightness changes.
* **Person**: a silhouette (head disc, torso, arms, two legs, sometimes seated) 30-90 % of the
  frame height depending on the camera kind, with perspective (larger persons stand lower in the
  frame), pose lean, leg spread, clothing and skin brightness drawn per visit (so contrast
  against the background varies and can be low), position jitter per frame, partially cropped
  at the frame edges and occluded by foreground furniture.

Presence follows a per-camera daily routine. Each camera has a kind with an hourly activity
profile, a peak arrival rate, a mean stay and a per-camera (log-normal) activity factor:

* ``doorbell`` -- a porch/entrance camera that sees visitors, deliveries and passers-by: up to
  10 arrivals an hour in the daytime, ~2 min in view;
* ``hallway`` -- people passing through: up to 20 an hour at the morning and evening peaks,
  ~45 s in view;
* ``living_room`` -- stays of ~1 h, mostly in the evening, often seated;
* ``office`` -- stays of ~1.5 h in working hours with a lunch dip, often seated.

Occupancy is a two-state continuous-time Markov chain (arrival rate ``lambda(hour)``, departure
rate ``1 / stay``), sampled exactly at the capture times (transition probabilities over one
period, rates at the period midpoint), so the occupancy statistics do not depend on the period.
Transitions use the counter-based node stream, keyed by node and sample counter; person
appearance is keyed by the counter of the sample that started the visit, per-frame pose and
position jitter by the sample counter. Nothing depends on how nodes are grouped. With the
defaults about 21 % of frames show a person (doorbell ~14 %, hallway ~10 %, living room and
office ~31 %).

Ground truth: a person is in view, i.e. the camera is occupied and the visible part of the
silhouette (inside the frame, not hidden by foreground furniture) covers at least 0.5 % of the
frame (after the Visual Wake Words labelling rule, which applies 0.5 % to the bounding box).

Simplifications (stated so users can judge): one person at most; one static camera pose and
scene per node (no furniture moved, no doors opened); silhouettes are flat-shaded geometric
shapes with no texture, no faces and no cast shadow; perspective is a single linear
foot-height-vs-size rule; infrared mode is grayscale like day mode; no weekends, holidays or
seasons (fixed sunrise/sunset per camera); lights switch on and off per day at random times,
independently of occupancy; no lens distortion, blur, rolling shutter or compression; pets,
shadows, the swinging object and the TV are independent of the person.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.rng import NodeStream

DAY_S = 86_400.0
HOUR_S = 3_600.0
SIDE_PX = 32
N_PIXELS = SIDE_PX * SIDE_PX

KINDS = ("doorbell", "hallway", "living_room", "office")
DOORBELL, HALLWAY, LIVING_ROOM, OFFICE = range(4)

# Hourly activity profiles (relative arrival rate, hour 0..23), one row per kind. Assumptions
# from everyday routines: doorbell visits (deliveries, visitors) in the daytime; hallway traffic
# peaks when people get up and come home; living rooms are used in the evening; offices in
# working hours with a lunch dip.
_ACTIVITY = np.array(
    [
        # doorbell: hours 0-11, 12-23
        [.02, .01, .01, .01, .01, .02, .05, .2, .5, .8, 1, 1,
         1, 1, 1, 1, 1, .9, .8, .6, .4, .2, .1, .05],
        # hallway: hours 0-11, 12-23
        [.05, .03, .03, .03, .05, .1, .6, 1, .9, .5, .3, .3,
         .4, .3, .3, .4, .6, .9, 1, .8, .7, .6, .4, .1],
        # living_room: hours 0-11, 12-23
        [.02, .01, .01, .01, .01, .02, .1, .4, .4, .2, .2, .2,
         .3, .3, .2, .3, .4, .6, .9, 1, 1, 1, .7, .3],
        # office: hours 0-11, 12-23
        [.01, .01, .01, .01, .01, .01, .02, .2, .8, 1, 1, 1,
         .5, .7, 1, 1, 1, .7, .3, .1, .05, .02, .01, .01],
    ]
)  # fmt: skip

# Purposes of the counter-based node stream (distinct integers keep streams independent).
_P_INIT = 1
_P_TRANSITION = 2
_P_NOISE = 3
_P_LIGHT_ON = 4
_P_LIGHT_OFF = 5
_P_LIGHT_USED = 6
# Per visit (counter = sample counter of the visit's first sample).
_V_SCALE = 20
_V_X = 21
_V_Y = 22
_V_TOP = 23
_V_BOTTOM = 24
_V_HEAD = 25
_V_SIT = 26
_V_LEAN = 27
_V_SIDE = 28
# Per sample.
_S_JX = 40
_S_JY = 41
_S_LEAN = 42
_S_SPREAD = 43
_S_ARMS = 44
_S_PET = 45
_S_PET_X = 46
_S_PET_Y = 47
_S_PET_SIZE = 48
_S_SHADOW = 49
_S_SHADOW_ANGLE = 50
_S_SHADOW_POS = 51
_S_SHADOW_WIDTH = 52
_S_SHADOW_DEPTH = 53
_S_TV = 54
_S_SWING = 55

_DAY_OFFSET = 1 << 20  # keeps day counters non-negative with history before t = 0


@dataclass(frozen=True)
class CameraParams:
    """Parameters of the camera world (units in names; defaults are stated assumptions).

    Occupancy: ``arrivals_per_hour`` is the peak arrival rate of each kind (doorbell, hallway,
    living room, office), scaled by the hourly profile and by a per-camera log-normal factor;
    ``stay_mean_s`` the mean time a person stays in view. Scale: person height as a fraction of
    the frame height, per kind. Sensor: noise in frame units (1 = full scale) at unit gain.
    """

    kind_weights: tuple[float, float, float, float] = (0.25, 0.25, 0.3, 0.2)
    arrivals_per_hour: tuple[float, float, float, float] = (10.0, 20.0, 2.0, 1.5)
    stay_mean_s: tuple[float, float, float, float] = (120.0, 45.0, 3600.0, 5400.0)
    activity_sd_log: float = 0.4
    person_height_min_frac: tuple[float, float, float, float] = (0.55, 0.3, 0.35, 0.35)
    person_height_max_frac: tuple[float, float, float, float] = (0.9, 0.8, 0.75, 0.7)
    sit_probability: tuple[float, float, float, float] = (0.0, 0.0, 0.6, 0.7)
    jitter_sd_px: tuple[float, float, float, float] = (1.5, 4.0, 0.8, 0.6)
    person_contrast: tuple[float, float] = (0.12, 0.55)  # |person - background| reflectance
    visible_min_frac: float = 0.005  # Visual Wake Words: person >= 0.5 % of the image
    sunrise_hour: float = 6.5
    sunset_hour: float = 19.5
    sun_sd_hour: float = 0.5
    lights_on_hour: float = 18.0  # evening lights: on ~18:00, off ~23:00, each +- 1 h (sd)
    lights_off_hour: float = 23.0
    lights_sd_hour: float = 1.0
    lights_used_probability: float = 0.85
    ir_threshold: float = 0.08  # scene illumination below which the IR illuminator switches on
    target_mean: float = 0.45  # auto exposure target (mean frame level)
    gain_max: float = 8.0
    read_noise: float = 0.003
    shot_noise: float = 0.012
    pet_camera_probability: float = 0.35
    pet_in_view_probability: float = 0.35
    shadow_probability: float = 0.12
    swing_camera_probability: float = 0.25
    tv_probability: float = 0.5  # of living rooms
    coat_stand_probability: float = 0.3
    door_probability: float = 0.45
    foreground_probability: float = 0.35


# --------------------------------------------------------------------------- soft shapes

_X = (np.arange(SIDE_PX, dtype=np.float32) + 0.5)[None, None, :]  # (1, 1, W)
_Y = (np.arange(SIDE_PX, dtype=np.float32) + 0.5)[None, :, None]  # (1, H, 1)


def _col(a: np.ndarray) -> np.ndarray:
    """Per-node values as ``(n, 1, 1)`` float32 for broadcasting against the pixel grid."""
    return np.asarray(a, dtype=np.float32)[:, None, None]


def _cover(dist_px: np.ndarray) -> np.ndarray:
    """Pixel coverage from a signed distance to a shape edge (positive inside) [px]."""
    return np.clip(dist_px + 0.5, 0.0, 1.0)


def _box(x0, x1, y0, y1) -> np.ndarray:
    """Coverage of axis-aligned boxes (per-node corners, ``(n, 1, 1)``) on the grid."""
    d = np.minimum(np.minimum(_X - x0, x1 - _X), np.minimum(_Y - y0, y1 - _Y))
    return _cover(d)


def _disc(cx, cy, r) -> np.ndarray:
    """Coverage of discs (per-node centre and radius) on the grid."""
    return _cover(r - np.sqrt((_X - cx) ** 2 + (_Y - cy) ** 2))


def _ellipse(cx, cy, rx, ry) -> np.ndarray:
    """Approximate coverage of axis-aligned ellipses (distance scaled by the smaller radius)."""
    q = np.sqrt(((_X - cx) / rx) ** 2 + ((_Y - cy) / ry) ** 2)
    return _cover((1.0 - q) * np.minimum(rx, ry))


def _over(base: np.ndarray, value, alpha: np.ndarray) -> np.ndarray:
    """Paint ``value`` over ``base`` with coverage ``alpha``."""
    return base + alpha * (value - base)


def _occupancy_fraction(lam: np.ndarray, mu: np.ndarray) -> np.ndarray:
    return lam / (lam + mu)


class CameraWorld:
    """Frames of ``n_nodes`` cameras, stepped per sample.

    Node ``i`` samples at ``phase_s[i] + k * period_s`` for ``k = 0, 1, ...``; a call to
    :meth:`sample` must ask each node for its samples in order. Values depend only on the node,
    the sample index and the streams, never on the order or grouping of calls.

    Parameters
    ----------
    params : CameraParams
        World parameters.
    n_nodes : int
        Number of cameras.
    period_s : float
        Capture period [s].
    phase_s : numpy.ndarray
        First capture time of each node [s], in ``[0, period_s)``.
    horizon_s : float
        Simulated horizon [s] (unused: nothing is drawn per horizon; kept for the interface).
    rng : numpy.random.Generator
        Set-up stream (camera kinds, scenes, routines).
    stream : twin.rng.NodeStream
        Counter-based stream for occupancy transitions, person appearance, distractors and
        sensor noise.
    history_samples : int
        Samples taken before ``t = 0`` (sample counters start at ``-history_samples``).
    """

    # Registry entry (twin.world.registry): the scenario kind, the parameter class, one line
    # for listings, and what a closed loop would drive (nothing: readings only).
    kind = "camera"
    params_type = CameraParams
    description = "32 x 32 grayscale frames of indoor and entrance scenes; label: person in view"
    actuator = None

    channels = tuple(f"px_{i}" for i in range(N_PIXELS))

    def __init__(
        self,
        params: CameraParams,
        n_nodes: int,
        period_s: float,
        phase_s: np.ndarray,
        horizon_s: float,
        rng: np.random.Generator,
        stream: NodeStream,
        history_samples: int = 0,
    ) -> None:
        p = params
        n = int(n_nodes)
        self.params = p
        self.n_nodes = n
        self.period_s = float(period_s)
        self.phase_s = np.asarray(phase_s, dtype=np.float64)
        self.horizon_s = float(horizon_s)
        self.stream = stream
        self.history_samples = int(history_samples)

        w = np.asarray(p.kind_weights, dtype=np.float64)
        self.scene_kind = rng.choice(len(KINDS), size=n, p=w / w.sum())
        kind = self.scene_kind
        self.activity = np.exp(rng.normal(0.0, p.activity_sd_log, n))
        self.sunrise_h = p.sunrise_hour + rng.normal(0.0, p.sun_sd_hour, n)
        self.sunset_h = p.sunset_hour + rng.normal(0.0, p.sun_sd_hour, n)
        outdoor = kind == DOORBELL
        # Daylight reaching the scene: full outdoors, through windows indoors (offices brighter).
        self.window_gain = np.where(
            outdoor, rng.uniform(0.8, 1.2, n), rng.uniform(0.15, 0.7, n)
        ) * np.where(kind == OFFICE, 1.4, 1.0)
        self.window_dir = rng.uniform(0, 2 * np.pi, n)
        self.window_contrast = np.where(outdoor, rng.uniform(0.0, 0.3, n), rng.uniform(0.3, 0.8, n))
        self.lamp_gain = rng.uniform(0.3, 0.8, n)
        self.lamp_x = rng.uniform(0, SIDE_PX, n)
        self.lamp_y = rng.uniform(-8, SIDE_PX * 0.6, n)
        self.lamp_r = rng.uniform(10, 30, n)
        self.ir_x = rng.uniform(10, 22, n)
        self.ir_y = rng.uniform(10, 22, n)
        self.ambient = rng.uniform(0.005, 0.03, n)

        # -- static scene (reflectance in [0, 1]) --------------------------------------------
        self.horizon_px = rng.uniform(0.35, 0.65, n) * SIDE_PX
        hz = _col(self.horizon_px)
        wall = _col(rng.uniform(0.25, 0.9, n))
        floor = _col(rng.uniform(0.1, 0.7, n))
        scene = np.where(_Y < hz, wall, floor) * np.ones((n, SIDE_PX, SIDE_PX), np.float32)
        gx, gy = _col(rng.normal(0, 0.006, n)), _col(rng.normal(0, 0.006, n))
        scene = scene + gx * (_X - 16) + gy * (_Y - 16)
        coarse = rng.normal(0.0, 1.0, (n, 5, 5)).astype(np.float32)
        idx = np.minimum((np.arange(SIDE_PX) * 5) // SIDE_PX, 4)
        tex_amp = _col(rng.uniform(0.0, 0.08, n))
        scene = scene + tex_amp * _smooth(coarse[:, idx][:, :, idx])
        for _ in range(5):
            x0 = rng.uniform(-4, SIDE_PX, n)
            y0 = rng.uniform(-4, SIDE_PX, n)
            bw, bh = rng.uniform(2, 14, n), rng.uniform(2, 12, n)
            val = np.clip(wall[:, 0, 0] + rng.normal(0, 0.2, n), 0.03, 0.97)
            on = rng.random(n) < 0.7
            a = _box(_col(x0), _col(x0 + bw), _col(y0), _col(y0 + bh)) * _col(on)
            scene = _over(scene, _col(val), a)
        # Door: a tall rectangle standing on the floor, often darker or lighter than the wall.
        door = rng.random(n) < p.door_probability
        dx = rng.uniform(0, SIDE_PX - 6, n)
        dwid = rng.uniform(5, 10, n)
        dtop = self.horizon_px - rng.uniform(10, 16, n)
        a = _box(_col(dx), _col(dx + dwid), _col(dtop), _col(self.horizon_px + 2)) * _col(door)
        scene = _over(scene, _col(rng.uniform(0.05, 0.95, n)), a)
        # Coat stand / tall lamp: thin pole with a blob on top, person-like in silhouette.
        stand = rng.random(n) < p.coat_stand_probability
        sx = rng.uniform(2, SIDE_PX - 2, n)
        sh = rng.uniform(10, 22, n)
        sbase = self.horizon_px + rng.uniform(0, 8, n)
        sval = _col(rng.uniform(0.02, 0.5, n))
        pole = _box(_col(sx - 0.9), _col(sx + 0.9), _col(sbase - sh), _col(sbase))
        blob = _ellipse(_col(sx), _col(sbase - sh), _col(rng.uniform(2, 4, n)), np.float32(3.5))
        scene = _over(scene, sval, np.maximum(pole, blob) * _col(stand))
        # Foreground object low in the frame (occludes a person behind it).
        self.fg_on = rng.random(n) < p.foreground_probability
        self.fg_x0 = rng.uniform(-10, 16, n)
        self.fg_x1 = self.fg_x0 + rng.uniform(10, 30, n)
        self.fg_y0 = rng.uniform(0.6, 0.85, n) * SIDE_PX
        scene = _over(scene, _col(rng.uniform(0.05, 0.9, n)), self._foreground(np.arange(n)))
        # TV (living rooms): a rectangle whose brightness changes per frame.
        self.tv_on = (kind == LIVING_ROOM) & (rng.random(n) < p.tv_probability)
        self.tv_x0 = rng.uniform(0, SIDE_PX - 10, n)
        self.tv_y0 = self.horizon_px - rng.uniform(4, 10, n)
        self.tv_w = rng.uniform(6, 11, n)
        self.tv_h = self.tv_w * 0.6
        # Fine grain, then clip: the stored background reflectance.
        scene = scene + _col(rng.uniform(0.0, 0.04, n)) * rng.normal(0, 1, scene.shape)
        self.scene = np.clip(scene, 0.02, 0.98).astype(np.float32).reshape(n, N_PIXELS)

        # Pet and swinging object.
        self.pet = rng.random(n) < p.pet_camera_probability
        self.pet_value = np.where(
            rng.random(n) < 0.5, rng.uniform(0.05, 0.3, n), rng.uniform(0.6, 0.95, n)
        )
        self.swing = rng.random(n) < p.swing_camera_probability
        self.swing_x = rng.uniform(4, SIDE_PX - 4, n)
        self.swing_len = rng.uniform(5, 12, n)
        self.swing_r = rng.uniform(1.5, 3.0, n)
        self.swing_value = rng.uniform(0.05, 0.9, n)
        self.swing_period_s = rng.uniform(40, 300, n)

        # Occupancy state.
        self._k_next = np.full(n, -self.history_samples, dtype=np.int64)
        nodes = np.arange(n)
        t0 = self._time(nodes, self._k_next)
        lam, mu = self._rates(nodes, t0)
        u = stream.uniform(nodes, np.zeros(n, dtype=np.uint64), _P_INIT)
        self._present = u < _occupancy_fraction(lam, mu)
        self._visit = np.zeros(n, dtype=np.int64)  # counter of the visit's first sample

    # -- time, routine, light -------------------------------------------------------------------
    def _time(self, nodes: np.ndarray, k: np.ndarray) -> np.ndarray:
        return self.phase_s[nodes] + k * self.period_s

    def _rates(self, nodes: np.ndarray, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Arrival and departure rates [1/s] of each node's occupancy chain at time ``t_s``."""
        p = self.params
        kind = self.scene_kind[nodes]
        hour = ((t_s % DAY_S) / HOUR_S).astype(np.int64) % 24
        lam = (
            np.asarray(p.arrivals_per_hour)[kind]
            * _ACTIVITY[kind, hour]
            * self.activity[nodes]
            / HOUR_S
        )
        mu = 1.0 / np.asarray(p.stay_mean_s)[kind]
        return lam, mu

    def daylight(self, nodes: np.ndarray, t_s: np.ndarray) -> np.ndarray:
        """Relative daylight (0 at night, 1 at solar noon): half-sine sunrise to sunset."""
        hour = (t_s % DAY_S) / HOUR_S
        rise, set_ = self.sunrise_h[nodes], self.sunset_h[nodes]
        x = (hour - rise) / (set_ - rise)
        return np.where((x > 0) & (x < 1), np.sin(np.pi * np.clip(x, 0, 1)), 0.0)

    def lights_on(self, nodes: np.ndarray, t_s: np.ndarray) -> np.ndarray:
        """Room lights: on from a random evening hour to a random night hour, per camera and day.

        Offices instead have lights on 08:00-18:00 on each day; doorbells have a porch light at
        the evening times.
        """
        p = self.params
        day = np.floor(t_s / DAY_S).astype(np.int64)
        hour = (t_s % DAY_S) / HOUR_S
        dctr = (day + _DAY_OFFSET).astype(np.uint64)
        on_h = p.lights_on_hour + p.lights_sd_hour * self.stream.normal(nodes, dctr, _P_LIGHT_ON)
        off_h = p.lights_off_hour + p.lights_sd_hour * self.stream.normal(nodes, dctr, _P_LIGHT_OFF)
        used = self.stream.uniform(nodes, dctr, _P_LIGHT_USED) < p.lights_used_probability
        home = used & (hour >= on_h) & (hour < off_h)
        office = (hour >= 8.0) & (hour < 18.0)
        return np.where(self.scene_kind[nodes] == OFFICE, office, home)

    def _foreground(self, nodes: np.ndarray) -> np.ndarray:
        return _box(
            _col(self.fg_x0[nodes]),
            _col(self.fg_x1[nodes]),
            _col(self.fg_y0[nodes]),
            np.float32(SIDE_PX + 5),
        ) * _col(self.fg_on[nodes])

    # -- occupancy ------------------------------------------------------------------------------
    def _advance(self, nodes: np.ndarray) -> np.ndarray:
        """Occupancy state of each node's next sample; returns the sample counters."""
        k = self._k_next[nodes]
        ctr = (k + self.history_samples).astype(np.uint64)
        first = ctr == 0
        # Exact transition of the two-state chain over one period, rates at the midpoint.
        t_mid = self._time(nodes, k) - 0.5 * self.period_s
        lam, mu = self._rates(nodes, t_mid)
        pi = _occupancy_fraction(lam, mu)
        decay = np.exp(-(lam + mu) * self.period_s)
        was = self._present[nodes]
        p_occ = np.where(was, pi + (1 - pi) * decay, pi * (1 - decay))
        u = self.stream.uniform(nodes, ctr, _P_TRANSITION)
        now = np.where(first, was, u < p_occ)
        start = now & (~was | first)
        self._visit[nodes] = np.where(start, ctr.astype(np.int64), self._visit[nodes])
        self._present[nodes] = now
        self._k_next[nodes] = k + 1
        return k

    # -- rendering ------------------------------------------------------------------------------
    def _person(self, nodes: np.ndarray, ctr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Silhouette coverage and reflectance of each node's (possible) person."""
        p = self.params
        s = self.stream
        kind = self.scene_kind[nodes]
        vc = self._visit[nodes].astype(np.uint64)
        lo = np.asarray(p.person_height_min_frac)[kind]
        hi = np.asarray(p.person_height_max_frac)[kind]
        u_scale = s.uniform(nodes, vc, _V_SCALE)
        height = (lo + (hi - lo) * u_scale) * SIDE_PX
        sit = s.uniform(nodes, vc, _V_SIT) < np.asarray(p.sit_probability)[kind]
        jit = np.asarray(p.jitter_sd_px)[kind]
        fx = (s.uniform(nodes, vc, _V_X) * 1.1 - 0.05) * SIDE_PX + jit * s.normal(nodes, ctr, _S_JX)
        # Perspective: feet on the floor, lower in the frame for a larger (closer) person.
        fy = (
            self.horizon_px[nodes]
            + (0.15 + 0.55 * u_scale) * (SIDE_PX + 4 - self.horizon_px[nodes])
            + 2.0 * s.normal(nodes, vc, _V_Y)
            + 0.5 * jit * s.normal(nodes, ctr, _S_JY)
        )
        lean = 0.1 * s.normal(nodes, vc, _V_LEAN) + 0.06 * s.normal(nodes, ctr, _S_LEAN)
        spread = np.where(sit, 0.0, 0.18 * s.uniform(nodes, ctr, _S_SPREAD))
        arms = 0.08 * s.uniform(nodes, ctr, _S_ARMS)
        side = np.where(s.uniform(nodes, vc, _V_SIDE) < 0.5, -1.0, 1.0)

        H = _col(height)
        v = (_col(fy) - _Y) / H  # 0 at the feet, 1 at the top of the head
        u = (_X - _col(fx)) / H - _col(lean) * v
        sit_c = _col(sit)
        # A seated person: upper body lowered onto the seat, thigh sideways, shin down.
        v_up = np.where(sit_c, v + 0.22, v)
        head = _cover((0.095 - np.sqrt(u**2 + (v_up - 0.88) ** 2)) * H)
        torso = _cover(np.minimum(0.125 - np.abs(u), np.minimum(v_up - 0.46, 0.80 - v_up)) * H)
        arm_u = np.abs(u) - 0.16 - _col(arms) * (0.78 - v_up)
        arm = _cover(np.minimum(0.04 - np.abs(arm_u), np.minimum(v_up - 0.42, 0.78 - v_up)) * H)
        top = np.maximum(torso, arm)
        legs = np.zeros_like(top)
        for sgn in (-1.0, 1.0):
            lu = u - sgn * 0.055 - sgn * _col(spread) * (0.47 - v)
            legs = np.maximum(
                legs, _cover(np.minimum(0.05 - np.abs(lu), np.minimum(v, 0.48 - v)) * H)
            )
        side_c = _col(side)
        thigh = _cover(
            np.minimum(
                np.minimum(side_c * u + 0.05, 0.30 - side_c * u),
                np.minimum(v_up - 0.38, 0.50 - v_up),
            )
            * H
        )
        shin = _cover(
            np.minimum(0.05 - np.abs(side_c * u - 0.25), np.minimum(v_up - 0.0 - 0.22, 0.44 - v_up))
            * H
        )
        legs = np.where(sit_c, np.maximum(thigh, shin), legs)
        alpha = np.maximum(np.maximum(head, top), legs)
        # Clothing and head contrast against the background behind the person, drawn per visit:
        # sign and size vary, so some persons stand out and some nearly blend in.
        bg = self.scene[nodes].reshape(-1, SIDE_PX, SIDE_PX)
        under = (alpha * bg).sum(axis=(1, 2)) / np.maximum(alpha.sum(axis=(1, 2)), 1e-6)
        lo_c, hi_c = p.person_contrast
        parts = []
        for purpose in (_V_BOTTOM, _V_TOP, _V_HEAD):
            u_c = s.uniform(nodes, vc, purpose)
            delta = lo_c + (hi_c - lo_c) * (2.0 * np.abs(u_c - 0.5))
            sign = np.where(u_c < 0.5, -1.0, 1.0)
            val = under + sign * delta
            val = np.where((val < 0.02) | (val > 0.98), under - sign * delta, val)
            parts.append(_col(np.clip(val, 0.02, 0.98)))
        refl = np.broadcast_to(parts[0], top.shape)
        refl = _over(refl, parts[1], top)
        refl = _over(refl, parts[2], head)
        alpha = alpha * (1.0 - self._foreground(nodes))
        return alpha, refl

    def _illumination(self, nodes: np.ndarray, t_s: np.ndarray) -> np.ndarray:
        """Scene illumination map ``(n, H, W)`` before exposure (IR added when dark)."""
        p = self.params
        day = _col(self.daylight(nodes, t_s) * self.window_gain[nodes])
        ang = self.window_dir[nodes]
        ramp = (_col(np.cos(ang)) * (_X - 16) + _col(np.sin(ang)) * (_Y - 16)) / 22.0
        win = 1.0 + _col(self.window_contrast[nodes]) * ramp
        lamp_on = _col(self.lights_on(nodes, t_s) * self.lamp_gain[nodes])
        d2 = (_X - _col(self.lamp_x[nodes])) ** 2 + (_Y - _col(self.lamp_y[nodes])) ** 2
        lamp = 1.0 / (1.0 + d2 / _col(self.lamp_r[nodes]) ** 2)
        light = _col(self.ambient[nodes]) + day * win + lamp_on * lamp
        dark = _col(light.mean(axis=(1, 2)) < p.ir_threshold)
        d2 = (_X - _col(self.ir_x[nodes])) ** 2 + (_Y - _col(self.ir_y[nodes])) ** 2
        ir = 0.15 / (1.0 + d2 / 300.0)
        return light + dark * ir

    def _render(self, nodes: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        s = self.stream
        n = len(nodes)
        ctr = (k + self.history_samples).astype(np.uint64)
        t = self._time(nodes, k)
        refl = self.scene[nodes].reshape(n, SIDE_PX, SIDE_PX)

        # Distractors painted into the reflectance, each on the subset of frames that has it.
        sub = np.flatnonzero(self.tv_on[nodes])
        if len(sub):
            nd = nodes[sub]
            tv = _box(
                _col(self.tv_x0[nd]),
                _col(self.tv_x0[nd] + self.tv_w[nd]),
                _col(self.tv_y0[nd]),
                _col(self.tv_y0[nd] + self.tv_h[nd]),
            )
            level = _col(0.1 + 0.9 * s.uniform(nd, ctr[sub], _S_TV))
            refl[sub] = _over(refl[sub], level, tv)
        sub = np.flatnonzero(self.swing[nodes])
        if len(sub):
            nd = nodes[sub]
            ang = 0.6 * np.sin(
                2 * np.pi * t[sub] / self.swing_period_s[nd]
                + 2 * np.pi * s.uniform(nd, ctr[sub], _S_SWING) * 0.1
            )
            sx, ln = self.swing_x[nd], self.swing_len[nd]
            bx, by = sx + ln * np.sin(ang), ln * np.cos(ang)
            bob = _disc(_col(bx), _col(by), _col(self.swing_r[nd]))
            cord = _segment(_col(sx), np.float32(0.0), _col(bx), _col(by), 0.4)
            refl[sub] = _over(refl[sub], _col(self.swing_value[nd]), np.maximum(bob, cord))
        pet = self.pet[nodes] & (s.uniform(nodes, ctr, _S_PET) < p.pet_in_view_probability)
        sub = np.flatnonzero(pet)
        if len(sub):
            nd, c = nodes[sub], ctr[sub]
            hz = self.horizon_px[nd]
            py = hz + 2 + s.uniform(nd, c, _S_PET_Y) * (SIDE_PX - hz)
            px = s.uniform(nd, c, _S_PET_X) * SIDE_PX
            size = 0.7 + 0.8 * s.uniform(nd, c, _S_PET_SIZE)
            body = _ellipse(_col(px), _col(py), _col(3.5 * size), _col(1.6 * size))
            head = _disc(_col(px + 3.3 * size), _col(py - 1.5 * size), _col(1.3 * size))
            refl[sub] = _over(refl[sub], _col(self.pet_value[nd]), np.maximum(body, head))

        # Person.
        present = self._present[nodes]
        visible = np.zeros(n, dtype=bool)
        sub = np.flatnonzero(present)
        if len(sub):
            alpha, prefl = self._person(nodes[sub], ctr[sub])
            refl[sub] = _over(refl[sub], prefl, alpha)
            visible[sub] = alpha.sum(axis=(1, 2)) >= p.visible_min_frac * N_PIXELS

        # Illumination, moving shadow, exposure, noise, quantisation.
        light = self._illumination(nodes, t)
        shadow = s.uniform(nodes, ctr, _S_SHADOW) < p.shadow_probability
        if shadow.any():
            ang = np.pi * s.uniform(nodes, ctr, _S_SHADOW_ANGLE)
            off = (s.uniform(nodes, ctr, _S_SHADOW_POS) - 0.5) * SIDE_PX
            width = 3 + 9 * s.uniform(nodes, ctr, _S_SHADOW_WIDTH)
            depth = (0.3 + 0.4 * s.uniform(nodes, ctr, _S_SHADOW_DEPTH)) * shadow
            dist = _col(np.cos(ang)) * (_X - 16) + _col(np.sin(ang)) * (_Y - 16) - _col(off)
            band = np.exp(-0.5 * (dist / _col(width / 2)) ** 2)
            light = light * (1.0 - _col(depth) * band)
        radiance = refl * light
        gain = np.clip(p.target_mean / radiance.mean(axis=(1, 2)), 0.5, p.gain_max)
        signal = radiance * _col(gain)
        sd = np.sqrt((p.read_noise * _col(gain)) ** 2 + p.shot_noise**2 * signal * _col(gain))
        noise = _normals(s, nodes, ctr, _P_NOISE, N_PIXELS).reshape(n, SIDE_PX, SIDE_PX)
        frame = np.clip(signal + sd * noise, 0.0, 1.0)
        frame = np.round(frame * 255.0) / 255.0
        return frame.reshape(n, N_PIXELS).astype(np.float32), present & visible

    # -- sampling -------------------------------------------------------------------------------
    def sample(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Capture the next frame of each node in ``nodes`` (unique indices).

        Returns
        -------
        frames : numpy.ndarray
            ``(len(nodes), 1024)`` float32 pixel values in ``[0, 1]``, row-major 32 x 32.
        person : numpy.ndarray
            Ground truth (bool): a person covering at least 0.5 % of the frame is in view.
        """
        nodes = np.asarray(nodes, dtype=np.int64)
        k = self._advance(nodes)
        return self._render(nodes, k)

    def skip(self, nodes: np.ndarray) -> None:
        """Advance the occupancy of ``nodes`` by one sample without rendering a frame.

        The frames rendered afterwards are the same as if every frame had been rendered.
        """
        self._advance(np.asarray(nodes, dtype=np.int64))

    def occupied(self, nodes: np.ndarray) -> np.ndarray:
        """Occupancy state of each node's last sample (for diagnostics and tests)."""
        return self._present[np.asarray(nodes, dtype=np.int64)].copy()


def _segment(x0, y0, x1, y1, half_width: float) -> np.ndarray:
    """Coverage of thick line segments from ``(x0, y0)`` to ``(x1, y1)`` (per node)."""
    dx, dy = x1 - x0, y1 - y0
    tt = np.clip(((_X - x0) * dx + (_Y - y0) * dy) / (dx * dx + dy * dy + 1e-6), 0.0, 1.0)
    d = np.sqrt((_X - x0 - tt * dx) ** 2 + (_Y - y0 - tt * dy) ** 2)
    return _cover(half_width - d)


def _smooth(a: np.ndarray) -> np.ndarray:
    """3 x 3 box blur over the last two axes (edge-padded), to soften blocky texture."""
    pad = np.pad(a, ((0, 0), (1, 1), (1, 1)), mode="edge")
    h, w = a.shape[1:]
    return sum(pad[:, i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9.0


def _normals(
    stream: NodeStream, nodes: np.ndarray, ctr: np.ndarray, purpose: int, m: int
) -> np.ndarray:
    """``m`` standard normals per node from the counter-based stream, ``(len(nodes), m)``.

    Each 64-bit draw gives two 32-bit uniforms, each pair two normals (Box-Muller), so ``m``
    values cost ``m / 4`` stream calls per node. Counter ``ctr * m / 4 + j`` keeps every
    (sample, value) pair distinct.
    """
    q = m // 4
    counter = ctr.astype(np.uint64)[:, None] * np.uint64(q) + np.arange(q, dtype=np.uint64)
    bits = stream.bits(np.asarray(nodes)[:, None], counter, purpose)
    hi = (bits >> np.uint64(32)).astype(np.float64)
    lo = (bits & np.uint64(0xFFFFFFFF)).astype(np.float64)
    bits2 = stream.bits(np.asarray(nodes)[:, None], counter, purpose + (1 << 32))
    hi2 = (bits2 >> np.uint64(32)).astype(np.float64)
    lo2 = (bits2 & np.uint64(0xFFFFFFFF)).astype(np.float64)
    u1 = (np.concatenate([hi, lo], axis=1) + 0.5) / 2.0**32
    u2 = np.concatenate([hi2, lo2], axis=1) / 2.0**32
    r = np.sqrt(-2.0 * np.log(u1))
    return np.concatenate([r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)], axis=1)
