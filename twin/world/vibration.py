"""Machine vibration world: accelerometer spectra of induction motors, with fault ground truth.

Each node is a vibration sensor (MEMS accelerometer, 1.6 kHz output rate, ADXL345 class)
bolted to the bearing housing of an induction motor. Every ``period_s`` it records 512 samples
(0.32 s) and summarises them as a 64-bin spectrum: Welch's method (Hann segments of 128
samples, 50 % overlap, 7 segments), bins 1..64 (12.5 Hz .. 800 Hz, 12.5 Hz wide), each the
band RMS acceleration in dB re 1 mm/s^2 (``20 log10(a_rms / 1e-3 m/s^2)``). The observation
is those 64 values (channels ``spec_0`` .. ``spec_63``).

The capture is synthesised in time (m/s^2):

* **rotation**: shaft frequency ``f_r = f_line / pole_pairs * (1 - slip)`` with 2- or 4-pole
  motors on 50 Hz mains and slip growing with load (rated slip 1.5-4 %); harmonics 1x..6x
  with per-node velocity amplitudes (residual imbalance 0.3-1.5 mm/s RMS at 1x, log-uniform;
  misalignment/looseness at 2x..6x, decaying), i.e. a healthy machine in ISO 10816-3 zone A
  or low zone B;
* **electromagnetic vibration** at twice the line frequency (100 Hz), growing with load;
* **broadband** process/friction noise, growing with load, shaped by a per-node structural
  resonance of the housing (250-650 Hz, damping 3-8 %), plus the sensor's white noise floor
  (250 ug/sqrt(Hz));
* **load** follows the plant's shift pattern (high 06:00-22:00, low at night) with random
  variation per sample; sensor mounting gain varies per node.

Faults develop per node over days. A share of the nodes (60 %) develop one fault, starting at a
per-node onset time drawn uniformly over the first 30 days (the others never fail); its
severity grows as ``((t - t_onset) / T_grow)^2`` (accelerating wear, ``T_grow`` 4-12 days),
capped at 2:

* **outer-race bearing fault** (60 % of the faults): impacts at the ball-pass frequency
  ``BPFO = n_balls / 2 * f_r * (1 - d/D)`` (8-12 balls, d/D 0.2-0.3) with 1 % jitter ring the
  housing resonance (peak 8 m/s^2 per unit severity), adding energy around the resonance and
  lines at BPFO harmonics;
* **imbalance** (40 %): the 1x velocity grows by 4.5 mm/s RMS per unit severity (an ISO
  10816-3 zone B/C boundary: large machines on rigid, medium ones on flexible foundations),
  added with a per-node phase to the residual imbalance.

Ground truth of a sample: fault severity above 0.5 (half the reference level). Early faults
(0 < severity <= 0.5) are already visible in the spectrum but labelled healthy, which is what
makes the detection task ambiguous near the threshold.

Simplifications (stated so users can judge): one fault type per node, no repair; the
structure is a single resonance; no inner-race or cage faults (no shaft-rate modulation of the
impacts), no electrical faults (broken bars, eccentricity sidebands), no gearbox or blade
passing; load is the only operating condition (speed follows slip only); captures are
independent between samples apart from the slow fault and the daily load pattern.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.rng import NodeStream

DAY_S = 86_400.0
HOUR_S = 3_600.0

# Purposes of the counter-based node stream (distinct integers keep streams independent).
_LOAD = 1
_PHASES = 2
_BROADBAND = 3
_SENSOR = 5
_IMPACT_JITTER = 6
_IMPACT_AMP = 7
_IMPACT_START = 8
_LEVELS = 9

_VEC = 1024  # vector draws of one sample use counters ctr * _VEC + j, j < _VEC
_HARMONICS = 6
_MAX_IMPACTS = 96  # BPFO <= 12 / 2 * 50 Hz * 0.8 = 240 Hz -> <= 77 impacts in 0.32 s
_SEGMENT = 128
_HOP = 64


@dataclass(frozen=True)
class VibrationParams:
    """Parameters of the vibration world (units in names; sources in the module docstring)."""

    sample_rate_hz: float = 1600.0
    capture_samples: int = 512
    line_hz: float = 50.0
    four_pole_fraction: float = 0.5  # the rest are 2-pole motors
    rated_slip_range: tuple[float, float] = (0.015, 0.04)
    residual_1x_mm_s_range: tuple[float, float] = (0.3, 1.5)  # log-uniform
    harmonic_2x_mm_s_range: tuple[float, float] = (0.1, 0.8)
    harmonic_decay_range: tuple[float, float] = (0.3, 0.6)  # ratio between higher harmonics
    electrical_2f_ms2_range: tuple[float, float] = (0.05, 0.3)  # at full load
    broadband_ms2_range: tuple[float, float] = (0.05, 0.2)  # resonance-shaped noise, full load
    resonance_hz_range: tuple[float, float] = (250.0, 650.0)
    resonance_damping_range: tuple[float, float] = (0.03, 0.08)
    sensor_noise_ms2_per_rthz: float = 0.0025  # ~250 ug/sqrt(Hz)
    mounting_gain_log_sd: float = 0.15
    load_day_range: tuple[float, float] = (0.6, 1.0)  # 06:00-22:00
    load_night_range: tuple[float, float] = (0.2, 0.5)
    load_sd: float = 0.08
    shift_start_hour: float = 6.0
    shift_end_hour: float = 22.0
    fault_node_fraction: float = 0.6
    fault_onset_max_days: float = 30.0
    fault_grow_days_range: tuple[float, float] = (4.0, 12.0)
    fault_max_severity: float = 2.0
    bearing_fault_fraction: float = 0.6  # the rest are imbalance faults
    bearing_balls_range: tuple[int, int] = (8, 12)
    bearing_ratio_range: tuple[float, float] = (0.2, 0.3)  # ball / pitch diameter
    bearing_impact_ms2: float = 8.0  # peak ring-down per unit severity
    bearing_jitter_frac: float = 0.01
    imbalance_mm_s: float = 4.5  # added 1x RMS velocity per unit severity
    severity_threshold: float = 0.5
    floor_db: float = -20.0  # lower bound of reported band levels


class VibrationWorld:
    """Vibration spectra of ``n_nodes`` motors, one capture per sample.

    Node ``i`` samples at ``phase_s[i] + k * period_s`` for ``k = 0, 1, ...``; a call to
    :meth:`sample` must ask each node for its samples in order. Values depend only on the
    node, the sample index and the streams, never on the order or grouping of calls.

    Parameters
    ----------
    params : VibrationParams
        World parameters.
    n_nodes : int
        Number of motors (one sensor each).
    period_s : float
        Sampling period [s].
    phase_s : numpy.ndarray
        First sample time of each node [s], in ``[0, period_s)``.
    horizon_s : float
        Simulated horizon [s] (unused: fault onsets follow the parameters, not the horizon).
    rng : numpy.random.Generator
        Set-up stream (machines, fault types and onsets).
    stream : twin.rng.NodeStream
        Counter-based stream for everything drawn per sample.
    history_samples : int
        Samples taken before ``t = 0`` (counter offset, as in the other worlds).
    """

    # Registry entry (twin.world.registry): the scenario kind, the parameter class, one line
    # for listings, and what a closed loop would drive (nothing: readings only).
    kind = "vibration"
    params_type = VibrationParams
    description = "64-band accelerometer spectra of induction motors; label: fault above threshold"
    actuator = None

    channels = tuple(f"spec_{i}" for i in range(64))

    def __init__(
        self,
        params: VibrationParams,
        n_nodes: int,
        period_s: float,
        phase_s: np.ndarray,
        horizon_s: float,
        rng: np.random.Generator,
        stream: NodeStream,
        history_samples: int = 0,
    ) -> None:
        p = params
        self.params = p
        self.n_nodes = n_nodes
        self.period_s = float(period_s)
        self.phase_s = np.asarray(phase_s, dtype=np.float64)
        self.horizon_s = float(horizon_s)
        self.stream = stream
        self.history_samples = int(history_samples)
        n_seg = (p.capture_samples - _SEGMENT) // _HOP + 1
        if n_seg < 1 or _SEGMENT // 2 != len(self.channels):
            raise ValueError("capture too short for the 64-bin Welch spectrum")

        def u(lo_hi: tuple[float, float]) -> np.ndarray:
            return rng.uniform(lo_hi[0], lo_hi[1], n_nodes)

        def log_u(lo_hi: tuple[float, float]) -> np.ndarray:
            return np.exp(rng.uniform(np.log(lo_hi[0]), np.log(lo_hi[1]), n_nodes))

        # Machines.
        self.pole_pairs = np.where(rng.uniform(size=n_nodes) < p.four_pole_fraction, 2, 1)
        self.rated_slip = u(p.rated_slip_range)
        self.residual_1x_mm_s = log_u(p.residual_1x_mm_s_range)
        self.h2_mm_s = u(p.harmonic_2x_mm_s_range)
        self.h_decay = u(p.harmonic_decay_range)
        self.electrical_ms2 = u(p.electrical_2f_ms2_range)
        self.broadband_ms2 = u(p.broadband_ms2_range)
        self.resonance_hz = u(p.resonance_hz_range)
        self.damping = u(p.resonance_damping_range)
        self.gain = np.exp(rng.normal(0.0, p.mounting_gain_log_sd, n_nodes))
        self.load_level = rng.uniform(size=n_nodes)  # where in the shift's load range
        # Faults.
        self.faulty = rng.uniform(size=n_nodes) < p.fault_node_fraction
        self.bearing = rng.uniform(size=n_nodes) < p.bearing_fault_fraction
        onset = rng.uniform(0.0, p.fault_onset_max_days * DAY_S, n_nodes)
        self.onset_s = np.where(self.faulty, onset, np.inf)
        self.grow_s = u(p.fault_grow_days_range) * DAY_S
        self.imbalance_phase = rng.uniform(0.0, 2 * np.pi, n_nodes)
        balls = rng.integers(p.bearing_balls_range[0], p.bearing_balls_range[1] + 1, n_nodes)
        self.bpfo_order = balls / 2.0 * (1.0 - u(p.bearing_ratio_range))  # BPFO / f_r
        self._k_next = np.full(n_nodes, -self.history_samples, dtype=np.int64)

        fs, ns = p.sample_rate_hz, p.capture_samples
        self._t = np.arange(ns) / fs
        self._freqs = np.fft.rfftfreq(ns, 1.0 / fs)
        win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_SEGMENT) / _SEGMENT)  # periodic Hann
        self._win = win
        # One-sided periodogram scaling to band power [(m/s^2)^2 per 12.5 Hz bin].
        self._psd_scale = 2.0 / (_SEGMENT * np.sum(win**2))
        self._seg_idx = np.arange(n_seg)[:, None] * _HOP + np.arange(_SEGMENT)

    # -- physics -----------------------------------------------------------------------------
    def _time(self, nodes: np.ndarray, k: np.ndarray) -> np.ndarray:
        return self.phase_s[nodes] + k * self.period_s

    def severity(self, nodes: np.ndarray, t_s: np.ndarray) -> np.ndarray:
        """Fault severity (0 = healthy, 1 = reference alarm level) at time ``t_s``."""
        nodes = np.asarray(nodes, dtype=np.int64)
        age = np.maximum(np.asarray(t_s, dtype=np.float64) - self.onset_s[nodes], 0.0)
        age = np.where(np.isfinite(age), age, 0.0)
        return np.minimum((age / self.grow_s[nodes]) ** 2, self.params.fault_max_severity)

    def load(self, nodes: np.ndarray, t_s: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Motor load (fraction of rated) from the shift pattern and a uniform ``u``."""
        p = self.params
        hour = (t_s % DAY_S) / HOUR_S
        day = (hour >= p.shift_start_hour) & (hour < p.shift_end_hour)
        lo = np.where(day, p.load_day_range[0], p.load_night_range[0])
        hi = np.where(day, p.load_day_range[1], p.load_night_range[1])
        # Per node, the shift level is a fixed fraction of the range; samples vary around it.
        level = lo + (hi - lo) * self.load_level[nodes]
        return np.clip(level + p.load_sd * (2.0 * u - 1.0) * np.sqrt(3.0), 0.05, 1.1)

    def _resonance(self, nodes: np.ndarray) -> np.ndarray:
        """Ring-down of the housing resonance (peak ~1), one row per node, capture length."""
        fn = self.resonance_hz[nodes][:, None]
        zeta = self.damping[nodes][:, None]
        t = self._t[None, :]
        h = np.exp(-zeta * 2 * np.pi * fn * t) * np.sin(2 * np.pi * fn * np.sqrt(1 - zeta**2) * t)
        return h

    def capture(self, nodes: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, dict]:
        """Raw acceleration capture [m/s^2] of sample ``k`` of each node, and its state."""
        p = self.params
        n, ns, fs = len(nodes), p.capture_samples, p.sample_rate_hz
        ctr = (k + self.history_samples).astype(np.uint64)
        t = self._time(nodes, k)

        def vec(purpose: int, m: int, normal: bool) -> np.ndarray:
            c = ctr[:, None] * np.uint64(_VEC) + np.arange(m, dtype=np.uint64)
            draw = self.stream.normal if normal else self.stream.uniform
            return draw(nodes[:, None], c, purpose)

        def complex_normal(purpose: int, m: int) -> np.ndarray:
            # Both Box-Muller outputs of each uniform pair: real and imaginary parts are
            # independent standard normals (half the draws of two separate normal vectors).
            u1 = vec(purpose, m, False)
            u2 = vec(purpose + (1 << 32), m, False)
            return np.sqrt(-2.0 * np.log1p(-u1)) * np.exp(2j * np.pi * u2)

        load = self.load(nodes, t, self.stream.uniform(nodes, ctr, _LOAD))
        sev = self.severity(nodes, t)
        bearing = self.faulty[nodes] & self.bearing[nodes]
        imbalance = self.faulty[nodes] & ~self.bearing[nodes]
        slip = self.rated_slip[nodes] * load
        f_r = p.line_hz / self.pole_pairs[nodes] * (1.0 - slip)
        phases = vec(_PHASES, _HARMONICS + 2, False) * 2 * np.pi
        levels = vec(_LEVELS, 4, True)

        # Shaft harmonics: velocity RMS [mm/s] -> acceleration amplitude [m/s^2].
        order = np.arange(1, _HARMONICS + 1)
        v = self.h2_mm_s[nodes][:, None] * self.h_decay[nodes][:, None] ** (order - 2.0)
        v = v * (1.0 + 0.1 * levels[:, :1])
        added = np.where(imbalance, sev * p.imbalance_mm_s, 0.0)
        v1 = np.abs(self.residual_1x_mm_s[nodes] + added * np.exp(1j * self.imbalance_phase[nodes]))
        v[:, 0] = v1
        amp = np.sqrt(2.0) * 2 * np.pi * f_r[:, None] * order * v / 1000.0
        # sin(2 pi h f_r t + phi_h) = Im(e^{i phi_h} z^h) with z = e^{i 2 pi f_r t}.
        z = np.exp(2j * np.pi * f_r[:, None] * self._t)
        zh = z.copy()
        x = np.zeros((n, ns))
        rot = amp * np.exp(1j * phases[:, :_HARMONICS])
        for h in range(_HARMONICS):
            if h:
                zh *= z
            x += (rot[:, h : h + 1] * zh).imag
        # Electromagnetic vibration at twice the line frequency.
        em = self.electrical_ms2[nodes] * load * np.exp(0.2 * levels[:, 1])
        x += (np.sqrt(2.0) * em)[:, None] * np.sin(
            2 * np.pi * 2 * p.line_hz * self._t + phases[:, _HARMONICS, None]
        )

        # Resonance-shaped broadband noise and bearing impacts, filtered in the frequency domain.
        h_f = np.fft.rfft(self._resonance(nodes), axis=1)
        m = len(self._freqs)
        white = complex_normal(_BROADBAND, m)
        broadband = np.fft.irfft(white * h_f, n=ns, axis=1)
        rms = np.sqrt(np.mean(broadband**2, axis=1, keepdims=True))
        bb_level = self.broadband_ms2[nodes] * (0.3 + 0.7 * load) * np.exp(0.2 * levels[:, 2])
        x += bb_level[:, None] * broadband / np.maximum(rms, 1e-12)

        # Bearing impacts (only rows with a developing bearing fault draw them): a train at
        # BPFO with jittered spacing, each impact ringing the housing resonance.
        bpfo = self.bpfo_order[nodes] * f_r
        (rows,) = np.nonzero(bearing & (sev > 0.0))
        if len(rows):
            b_nodes, b_ctr, b_f = nodes[rows], ctr[rows], bpfo[rows, None]
            c = b_ctr[:, None] * np.uint64(_VEC) + np.arange(_MAX_IMPACTS, dtype=np.uint64)
            start = -self.stream.uniform(b_nodes, b_ctr, _IMPACT_START)[:, None] / b_f
            jitter = 1.0 + p.bearing_jitter_frac * self.stream.normal(
                b_nodes[:, None], c, _IMPACT_JITTER
            )
            t_imp = start + (np.cumsum(jitter, axis=1) - 1.0) / b_f
            a_imp = (sev[rows] * p.bearing_impact_ms2)[:, None] * (
                1.0 + 0.3 * self.stream.normal(b_nodes[:, None], c, _IMPACT_AMP)
            )
            idx = np.round(t_imp * fs).astype(np.int64)
            ok = (idx >= 0) & (idx < ns)
            flat = (np.arange(len(rows))[:, None] * ns + np.clip(idx, 0, ns - 1)).ravel()
            impacts = np.bincount(flat, weights=(a_imp * ok).ravel(), minlength=len(rows) * ns)
            ring = np.fft.rfft(impacts.reshape(len(rows), ns), axis=1) * h_f[rows]
            x[rows] += np.fft.irfft(ring, n=ns, axis=1)

        x *= self.gain[nodes][:, None]
        sensor = complex_normal(_SENSOR, ns // 2).view(np.float64)  # ns normals
        x += p.sensor_noise_ms2_per_rthz * np.sqrt(fs / 2.0) * sensor
        state = {
            "t_s": t,
            "load": load,
            "severity": sev,
            "shaft_hz": f_r,
            "bpfo_hz": bpfo,
            "bearing": bearing,
            "imbalance": imbalance,
        }
        return x, state

    def spectrum_db(self, x: np.ndarray) -> np.ndarray:
        """64-bin Welch spectrum of captures ``x`` [m/s^2]: band RMS in dB re 1 mm/s^2."""
        seg = x[:, self._seg_idx]  # (n, segments, 128)
        seg = seg - seg.mean(axis=2, keepdims=True)
        power = np.abs(np.fft.rfft(seg * self._win, axis=2)) ** 2
        band = power.mean(axis=1)[:, 1:] * self._psd_scale  # bins 1..64
        band[:, -1] *= 0.5  # the Nyquist bin has no mirror image
        floor = 10.0 ** (self.params.floor_db / 10.0) * 1e-6
        return 10.0 * np.log10(np.maximum(band, floor) / 1e-6)

    # -- sampling ----------------------------------------------------------------------------
    def sample(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Take the next capture of each node in ``nodes`` (unique indices).

        Returns
        -------
        spectrum : numpy.ndarray
            ``(len(nodes), 64)`` float32, band RMS acceleration [dB re 1 mm/s^2], 12.5 Hz
            bins from 12.5 Hz to 800 Hz.
        faulty : numpy.ndarray
            Ground truth (bool): fault severity above the threshold.
        """
        spec, truth, _ = self.sample_details(nodes)
        return spec, truth

    def sample_details(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        """Like :meth:`sample`, plus the raw capture and hidden state (for tests)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        k = self._k_next[nodes]
        x, state = self.capture(nodes, k)
        spec = self.spectrum_db(x).astype(np.float32)
        truth = state["severity"] > self.params.severity_threshold
        self._k_next[nodes] = k + 1
        state["capture"] = x
        return spec, truth, state
