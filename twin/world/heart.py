"""Heart rhythm world: 4 s single-lead ECG windows from a wearable, with arrhythmia ground truth.

Each node is a wearable (chest patch or watch with an ECG lead) that records a 4 s window of
one-lead ECG at 64 Hz (256 values, millivolts) every ``period_s`` seconds. The ECG is
synthesised beat by beat as a sum of Gaussian waves (P, Q, R, S, T), the dynamical model of
McSharry et al., "A dynamical model for generating synthetic electrocardiogram signals", IEEE
TBME 50(3), 2003, reduced to its static wave shapes. Each wave is widened by the analogue
front end's anti-aliasing filter (Gaussian, sigma 6 ms, area preserved), so a 64 Hz capture
sees rounded QRS complexes as a real low-rate wearable does.

* **Heart rate.** Each node has a resting rate (68 +- 8 bpm, typical adults); it drops by
  ~10 bpm during the node's sleep window (nocturnal dip) and rises with physical activity,
  drawn per sample during waking hours. Sinus rhythm carries respiratory sinus arrhythmia
  (RR modulated at the breathing rate, stronger at rest and in some nodes than others) and
  small beat-to-beat jitter.
* **Atrial fibrillation (AF) episodes** come and go per node as a two-state Markov process in
  continuous time, observed at the sample instants: per-node onset and termination rates are
  drawn once (a fraction of nodes are AF-prone, with an AF burden of 5-45 % and a mean episode
  length of 10 min to 3 h, the range of paroxysmal AF). The state at sample ``k + 1`` follows
  from the state at ``k`` with the exact transition probabilities over one period and one
  counter-based uniform of ``(node, k)``: it is a deterministic function of the node, the
  sample index and the seeds, whatever the grouping of calls. During AF the RR intervals are
  irregular (log-normal, coefficient of variation 12-30 %, Tateno and Glass, Med. Biol. Eng.
  Comput. 39, 2001), the ventricular rate is faster, P waves are absent and fibrillatory
  f-waves (5-8 Hz, 0.02-0.08 mV) ride on the baseline.
* **Ventricular ectopic beats.** Premature ventricular contractions (PVCs) occur per beat
  with a per-node probability (log-normal, median 0.4 %, a few nodes with frequent ectopy). A
  PVC comes early (coupling 55-75 % of the RR), has a wide QRS with no P wave and a discordant
  T wave (width, height and polarity vary per node), and is followed by a compensatory pause.
* **Atrial ectopic beats (confounders).** Premature atrial contractions (PACs) occur in sinus
  rhythm with a per-node probability (log-normal, median 0.5 %, three times more in AF-prone
  nodes): an early beat (coupling 60-85 %) with a normal QRS, an abnormal P wave and no
  compensatory pause. Isolated PACs are common in healthy people and are *not* labelled as
  arrhythmia, but they make the RR series irregular, as AF does.
* **Artefacts.** Respiratory baseline wander always; motion-induced wander and bursts of
  band-limited noise (0.3-2 s, 0.2-1 mV) at a rate that grows with activity; white
  (EMG/electronics) noise per node; the front end saturates at +-5 mV.

The population is a monitored cohort (45 % of wearers with paroxysmal AF), not the general
public, so that arrhythmia windows are common enough to train and score a detector.

Ground truth of a window: an arrhythmia is present, i.e. the node is in an AF episode at the
sample time, or at least one PVC has its R peak inside the window (PACs do not count).

Simplifications (stated so users can judge): the episode state is constant over a window
(episodes start and stop at sample instants); heart rate and activity are drawn independently
per sample (no minute-scale autocorrelation beyond the daily rhythm); wave shapes are fixed
Gaussian sums with per-node scaling (no axis changes, no ischaemia, no bundle-branch blocks);
only AF, PVCs and PACs (no flutter, runs of tachycardia, pauses or heart block); artefacts
are additive (no loss of contact, no filtering by a device's own DSP); one lead only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.rng import NodeStream

DAY_S = 86_400.0
HOUR_S = 3_600.0

# Purposes of the counter-based node stream (distinct integers keep streams independent).
_EPISODE = 1
_ACTIVITY = 2
_HR = 3
_RR = 4
_PVC = 5
_PVC_COUPLING = 6
_FIRST_BEAT = 7
_PHASES = 8
_NOISE = 9
_ART_EVENT = 10
_ART_SHAPE = 11
_ART_NOISE = 12
_BEAT_AMP = 13
_PAC = 14
_PAC_COUPLING = 15

# Vector draws of one sample use counters ``ctr * _VEC + j`` (j < _VEC) of their own purpose.
_VEC = 1024
_MAX_BEATS = 24  # RR >= 0.25 s: 24 beats span >= 5.75 s, more than the rendered 5 s
_LEAD_IN_S = 0.6  # first beat before the window start: its T wave reaches into the window
_SUPPORT_BEFORE_S = 0.35  # a beat's waves span R - 0.35 s (P) .. R + 0.65 s (T)
_SUPPORT_SAMPLES = 64

# Wave shapes of a sinus beat (McSharry et al. 2003, Table 1, converted to seconds at 60 bpm):
# offset from the R peak [s], width (sigma) [s], amplitude relative to R. The T offset scales
# with sqrt(RR) (Bazett); the P wave is dropped in AF.
_SINUS_OFFSET_S = np.array([-0.17, -0.025, 0.0, 0.025, 0.0])
_SINUS_WIDTH_S = np.array([0.025, 0.010, 0.012, 0.010, 0.055])
_SINUS_AMP = np.array([0.12, -0.12, 1.0, -0.25, 0.28])
# Premature ventricular beat: no P, wide tall QRS, discordant T.
_PVC_OFFSET_S = np.array([0.0, -0.03, 0.0, 0.06, 0.0])
_PVC_WIDTH_S = np.array([0.02, 0.02, 0.035, 0.03, 0.07])
_PVC_AMP = np.array([0.0, -0.2, 1.5, -0.5, -0.45])
_T_WAVE = 4


@dataclass(frozen=True)
class HeartParams:
    """Parameters of the heart world (units in names; defaults and sources in the module doc)."""

    sample_rate_hz: float = 64.0
    window_s: float = 4.0
    antialias_sigma_s: float = 0.006  # front-end low-pass (~25 Hz) as a Gaussian
    hr_rest_bpm: float = 68.0  # resting adult heart rate (normal range 60-100 bpm)
    hr_rest_sd_bpm: float = 8.0
    hr_sleep_drop_bpm: float = 10.0  # nocturnal dip, typically 10-15 % of the daytime rate
    hr_activity_gain_bpm: float = 55.0  # rate increase at full activity
    hr_jitter_sd_bpm: float = 3.0
    sleep_start_hour: float = 23.0
    sleep_start_sd_h: float = 0.75
    sleep_duration_h: float = 7.5
    activity_max_range: tuple[float, float] = (0.4, 1.0)  # per-node peak activity level
    breathing_hz_range: tuple[float, float] = (0.2, 0.33)
    rsa_frac_range: tuple[float, float] = (0.01, 0.12)  # respiratory sinus arrhythmia of RR
    sinus_jitter_frac: float = 0.015
    af_node_fraction: float = 0.45  # share of AF-prone wearers (a monitored cohort)
    af_burden_range: tuple[float, float] = (0.05, 0.45)
    af_episode_mean_s_range: tuple[float, float] = (600.0, 10_800.0)  # log-uniform
    af_rate_factor_range: tuple[float, float] = (1.05, 1.45)  # ventricular rate vs sinus
    af_rr_cv_range: tuple[float, float] = (0.08, 0.28)
    af_fwave_mv_range: tuple[float, float] = (0.0, 0.07)
    af_fwave_hz_range: tuple[float, float] = (5.0, 8.0)
    # Holter studies find PVCs in most adults, usually well under 1 % of beats.
    pvc_per_beat_median: float = 0.004
    pvc_per_beat_log_sd: float = 1.2
    pvc_per_beat_max: float = 0.2
    pvc_coupling_range: tuple[float, float] = (0.55, 0.75)
    pvc_amp_scale_range: tuple[float, float] = (0.5, 1.3)  # relative to the typical PVC
    pvc_width_scale_range: tuple[float, float] = (0.7, 1.3)
    pvc_negative_fraction: float = 0.3  # nodes whose PVCs point down in this lead
    pac_per_beat_median: float = 0.005
    pac_per_beat_log_sd: float = 1.2
    pac_af_prone_factor: float = 3.0  # PACs trigger AF: more of them in AF-prone nodes
    pac_per_beat_max: float = 0.25
    pac_coupling_range: tuple[float, float] = (0.6, 0.85)
    pac_p_scale_range: tuple[float, float] = (-0.6, 0.8)  # ectopic P wave vs sinus P
    r_amplitude_mv_median: float = 1.0
    r_amplitude_log_sd: float = 0.3
    p_amp_scale_range: tuple[float, float] = (0.25, 1.4)
    t_amp_scale_range: tuple[float, float] = (0.6, 1.4)
    resp_wander_mv_range: tuple[float, float] = (0.02, 0.15)
    motion_wander_mv: float = 0.6  # low-frequency wander amplitude at full activity
    noise_mv_range: tuple[float, float] = (0.01, 0.06)
    artefact_base_prob: float = 0.06  # per window, at rest
    artefact_activity_prob: float = 0.35  # added at full activity
    artefact_mv_range: tuple[float, float] = (0.2, 1.0)
    artefact_s_range: tuple[float, float] = (0.3, 2.0)
    adc_range_mv: float = 5.0


class HeartWorld:
    """ECG windows of ``n_nodes`` wearables, one window per sample.

    Node ``i`` samples at ``phase_s[i] + k * period_s`` for ``k = 0, 1, ...``; a call to
    :meth:`sample` must ask each node for its samples in order. Values depend only on the
    node, the sample index and the streams, never on the order or grouping of calls.

    Parameters
    ----------
    params : HeartParams
        World parameters.
    n_nodes : int
        Number of wearables.
    period_s : float
        Sampling period [s] (one 4 s window per period).
    phase_s : numpy.ndarray
        First sample time of each node [s], in ``[0, period_s)``.
    horizon_s : float
        Simulated horizon [s] (unused: nothing is pre-drawn per time; kept for the interface).
    rng : numpy.random.Generator
        Set-up stream (per-node physiology, episode rates, initial episode state).
    stream : twin.rng.NodeStream
        Counter-based stream for everything drawn per sample.
    history_samples : int
        Samples taken before ``t = 0`` (counter offset, as in the other worlds).
    """

    # Registry entry (twin.world.registry): the scenario kind, the parameter class, one line
    # for listings, and what a closed loop would drive (nothing: readings only).
    kind = "heart"
    params_type = HeartParams
    description = "4 s single-lead ECG windows from a wearable; label: arrhythmia in the window"
    actuator = None

    channels = tuple(f"ecg_{i}" for i in range(256))  # window of the default parameters

    def __init__(
        self,
        params: HeartParams,
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
        self.n_samples = int(round(p.window_s * p.sample_rate_hz))
        if self.n_samples + 2 > _VEC:
            raise ValueError("window too long for the per-sample counter layout")
        if self.n_samples != len(self.channels):
            self.channels = tuple(f"ecg_{i}" for i in range(self.n_samples))

        def u(lo_hi: tuple[float, float]) -> np.ndarray:
            return rng.uniform(lo_hi[0], lo_hi[1], n_nodes)

        # Physiology and recording conditions per node.
        self.hr_rest_bpm = np.clip(rng.normal(p.hr_rest_bpm, p.hr_rest_sd_bpm, n_nodes), 48, 95)
        self.sleep_start_h = rng.normal(p.sleep_start_hour, p.sleep_start_sd_h, n_nodes) % 24.0
        self.activity_max = u(p.activity_max_range)
        self.breathing_hz = u(p.breathing_hz_range)
        self.rsa_frac = u(p.rsa_frac_range)
        self.r_amp_mv = p.r_amplitude_mv_median * np.exp(
            rng.normal(0.0, p.r_amplitude_log_sd, n_nodes)
        )
        self.p_scale = u(p.p_amp_scale_range)
        self.t_scale = u(p.t_amp_scale_range)
        self.resp_wander_mv = u(p.resp_wander_mv_range)
        self.noise_mv = u(p.noise_mv_range)
        self.pvc_prob = np.minimum(
            p.pvc_per_beat_median * np.exp(rng.normal(0.0, p.pvc_per_beat_log_sd, n_nodes)),
            p.pvc_per_beat_max,
        )
        self.pvc_amp_scale = u(p.pvc_amp_scale_range) * np.where(
            rng.uniform(size=n_nodes) < p.pvc_negative_fraction, -1.0, 1.0
        )
        self.pvc_width_scale = u(p.pvc_width_scale_range)
        # AF: two-state Markov process with onset rate a and termination rate b [1/s]; the
        # stationary share of time in AF (the burden) is a / (a + b).
        self.af_prone = rng.uniform(size=n_nodes) < p.af_node_fraction
        burden = np.where(self.af_prone, u(p.af_burden_range), 0.0)
        lo, hi = np.log(p.af_episode_mean_s_range[0]), np.log(p.af_episode_mean_s_range[1])
        self.af_episode_mean_s = np.exp(rng.uniform(lo, hi, n_nodes))
        self.af_off_rate = 1.0 / self.af_episode_mean_s
        self.af_on_rate = self.af_off_rate * burden / (1.0 - burden)
        self.af_burden = burden
        self.pac_prob = np.minimum(
            p.pac_per_beat_median
            * np.where(self.af_prone, p.pac_af_prone_factor, 1.0)
            * np.exp(rng.normal(0.0, p.pac_per_beat_log_sd, n_nodes)),
            p.pac_per_beat_max,
        )
        self.pac_p_scale = u(p.pac_p_scale_range)
        total = self.af_on_rate + self.af_off_rate
        decay = 1.0 - np.exp(-total * self.period_s)
        self._p_start = self.af_on_rate / total * decay  # P(off -> on) over one period
        self._p_stop = self.af_off_rate / total * decay  # P(on -> off) over one period
        self.af_rate_factor = u(p.af_rate_factor_range)
        self.af_rr_cv = u(p.af_rr_cv_range)
        self.fwave_mv = u(p.af_fwave_mv_range)
        self.fwave_hz = u(p.af_fwave_hz_range)

        # Episode state at each node's next sample, started from the stationary distribution.
        self._af = rng.uniform(size=n_nodes) < burden
        self._k_next = np.full(n_nodes, -self.history_samples, dtype=np.int64)

    # -- helpers -----------------------------------------------------------------------------
    def _vec_uniform(self, nodes: np.ndarray, ctr: np.ndarray, purpose: int, n: int) -> np.ndarray:
        c = ctr[:, None] * np.uint64(_VEC) + np.arange(n, dtype=np.uint64)
        return self.stream.uniform(nodes[:, None], c, purpose)

    def _vec_normal(self, nodes: np.ndarray, ctr: np.ndarray, purpose: int, n: int) -> np.ndarray:
        c = ctr[:, None] * np.uint64(_VEC) + np.arange(n, dtype=np.uint64)
        return self.stream.normal(nodes[:, None], c, purpose)

    def _time(self, nodes: np.ndarray, k: np.ndarray) -> np.ndarray:
        return self.phase_s[nodes] + k * self.period_s

    def asleep(self, nodes: np.ndarray, t_s: np.ndarray) -> np.ndarray:
        """True where the wearer is in their nightly sleep window at time ``t_s``."""
        hour = (t_s % DAY_S) / HOUR_S
        return ((hour - self.sleep_start_h[nodes]) % 24.0) < self.params.sleep_duration_h

    def in_af(self, nodes: np.ndarray) -> np.ndarray:
        """AF episode state at each node's next sample (for diagnostics and tests)."""
        return self._af[np.asarray(nodes, dtype=np.int64)].copy()

    # -- sampling ----------------------------------------------------------------------------
    def sample(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Take the next ECG window of each node in ``nodes`` (unique indices).

        Returns
        -------
        ecg : numpy.ndarray
            ``(len(nodes), 256)`` float32, millivolts, oldest value first.
        arrhythmia : numpy.ndarray
            Ground truth (bool): in an AF episode, or a PVC's R peak inside the window.
        """
        nodes = np.asarray(nodes, dtype=np.int64)
        obs, truth, _ = self._render(nodes)
        return obs, truth

    def sample_details(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        """Like :meth:`sample`, plus the hidden state of each window (for tests)."""
        return self._render(np.asarray(nodes, dtype=np.int64))

    def _render(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
        p = self.params
        n = len(nodes)
        fs = p.sample_rate_hz
        k = self._k_next[nodes]
        ctr = (k + self.history_samples).astype(np.uint64)
        t = self._time(nodes, k)
        af = self._af[nodes]

        # Activity and heart rate.
        asleep = self.asleep(nodes, t)
        u_act = self.stream.uniform(nodes, ctr, _ACTIVITY)
        activity = np.where(asleep, 0.0, self.activity_max[nodes] * u_act**2)
        hr = (
            self.hr_rest_bpm[nodes]
            - p.hr_sleep_drop_bpm * asleep
            + p.hr_activity_gain_bpm * activity
            + p.hr_jitter_sd_bpm * self.stream.normal(nodes, ctr, _HR)
        )
        hr = np.clip(hr, 40.0, 175.0)
        rr0 = 60.0 / hr
        rr_af = 60.0 / np.clip(hr * self.af_rate_factor[nodes], 50.0, 185.0)

        # RR intervals: rr[:, j] is the interval from beat j - 1 to beat j (rr[:, 0] unused).
        m = _MAX_BEATS
        z = self._vec_normal(nodes, ctr, _RR, m)
        phases = self._vec_uniform(nodes, ctr, _PHASES, 8) * 2.0 * np.pi
        j = np.arange(m)
        breath = self.breathing_hz[nodes]
        rsa = (self.rsa_frac[nodes] * (1.0 - activity))[:, None]
        sinus = rr0[:, None] * (
            1.0
            + rsa * np.sin(2 * np.pi * breath[:, None] * j * rr0[:, None] + phases[:, :1])
            + p.sinus_jitter_frac * z
        )
        cv = self.af_rr_cv[nodes][:, None]
        fib = rr_af[:, None] * np.exp(cv * z - 0.5 * cv**2)
        rr = np.clip(np.where(af[:, None], fib, sinus), 0.25, 2.5)
        # Premature ventricular beats: the interval before shortens, the one after lengthens by
        # the same amount (full compensatory pause).
        pvc = self._vec_uniform(nodes, ctr, _PVC, m) < self.pvc_prob[nodes][:, None]
        lo, hi = p.pvc_coupling_range
        coupling = lo + (hi - lo) * self._vec_uniform(nodes, ctr, _PVC_COUPLING, m)
        delta = np.where(pvc, rr * (1.0 - coupling), 0.0)
        delta[:, 0] = 0.0
        rr = rr - delta
        rr[:, 1:] += delta[:, :-1]
        # Premature atrial beats (sinus rhythm only): early, no compensatory pause (the sinus
        # node is reset, the next interval is a normal one).
        pac = (self._vec_uniform(nodes, ctr, _PAC, m) < self.pac_prob[nodes][:, None]) & ~(
            pvc | af[:, None]
        )
        lo, hi = p.pac_coupling_range
        pac_coupling = lo + (hi - lo) * self._vec_uniform(nodes, ctr, _PAC_COUPLING, m)
        rr = np.where(pac, rr * pac_coupling, rr)
        rr[:, 0] = 0.0
        first = -_LEAD_IN_S - self.stream.uniform(nodes, ctr, _FIRST_BEAT) * rr0
        beat_t = first[:, None] + np.cumsum(rr, axis=1)
        in_window = (beat_t >= 0.0) & (beat_t < p.window_s)
        pvc_in_window = np.any(pvc & in_window, axis=1)
        truth = af | pvc_in_window

        # Waves of the beats that reach into the window, each on a local support of 64
        # samples, scatter-added into the window (beats far outside it are skipped).
        rr_prev = np.where(j[None, :] == 0, rr0[:, None], rr)
        t_offset = np.where(pvc, 0.42 * np.sqrt(rr_prev) - 0.05, 0.40 * np.sqrt(rr_prev) - 0.09)
        support_s = _SUPPORT_SAMPLES / fs
        near = (beat_t > -(support_s - _SUPPORT_BEFORE_S)) & (
            beat_t < p.window_s + _SUPPORT_BEFORE_S
        )
        row, col = np.nonzero(near)
        b_t, b_pvc, b_node = beat_t[row, col], pvc[row, col][:, None], nodes[row]
        offset = np.where(b_pvc, _PVC_OFFSET_S, _SINUS_OFFSET_S)
        offset[:, _T_WAVE] = t_offset[row, col]
        width = np.where(
            b_pvc, _PVC_WIDTH_S * self.pvc_width_scale[b_node][:, None], _SINUS_WIDTH_S
        )
        amp = np.where(b_pvc, _PVC_AMP * self.pvc_amp_scale[b_node][:, None], _SINUS_AMP)
        p_wave = np.where(pac[row, col], self.pac_p_scale[b_node], 1.0)
        amp[:, 0] *= self.p_scale[b_node] * p_wave * ~af[row]  # no P waves in AF
        amp[:, _T_WAVE] *= self.t_scale[b_node]
        # The front end's anti-aliasing filter widens each wave, preserving its area.
        filtered = np.sqrt(width**2 + p.antialias_sigma_s**2)
        amp *= width / filtered
        width = filtered
        beat_amp = 1.0 + 0.04 * self._vec_normal(nodes, ctr, _BEAT_AMP, m)[row, col]
        amp *= (beat_amp * self.r_amp_mv[b_node])[:, None]
        start = np.floor((b_t - _SUPPORT_BEFORE_S) * fs).astype(np.int64)
        idx = start[:, None] + np.arange(_SUPPORT_SAMPLES)  # (beats, L)
        ts = idx / fs - b_t[:, None]  # time relative to each R peak
        d = (ts[..., None] - offset[:, None, :]) / width[:, None, :]
        waves = np.einsum("blc,bc->bl", np.exp(-0.5 * d * d), amp)
        ns = self.n_samples
        valid = (idx >= 0) & (idx < ns)
        flat = (row[:, None] * ns + np.clip(idx, 0, ns - 1)).ravel()
        ecg = np.bincount(flat, weights=(waves * valid).ravel(), minlength=n * ns)
        ecg = ecg.reshape(n, ns)

        # f-waves in AF, baseline wander, noise, motion artefacts.
        tt = np.arange(ns) / fs
        fwave = self.fwave_mv[nodes][:, None] * np.sin(
            2 * np.pi * self.fwave_hz[nodes][:, None] * tt + phases[:, 1:2]
        )
        fwave *= 1.0 + 0.3 * np.sin(2 * np.pi * 0.5 * tt + phases[:, 2:3])
        ecg += np.where(af[:, None], fwave, 0.0)
        ecg += self.resp_wander_mv[nodes][:, None] * np.sin(
            2 * np.pi * breath[:, None] * tt + phases[:, 3:4]
        )
        shape = self._vec_uniform(nodes, ctr, _ART_SHAPE, 8)
        wander_hz = 0.3 + 1.2 * shape[:, 0:2]
        ecg += (p.motion_wander_mv * activity * shape[:, 2])[:, None] * (
            np.sin(2 * np.pi * wander_hz[:, 0:1] * tt + phases[:, 4:5])
            + 0.5 * np.sin(2 * np.pi * wander_hz[:, 1:2] * tt + phases[:, 5:6])
        )
        ecg += self.noise_mv[nodes][:, None] * self._vec_normal(nodes, ctr, _NOISE, ns)
        p_art = p.artefact_base_prob + p.artefact_activity_prob * activity
        burst = self.stream.uniform(nodes, ctr, _ART_EVENT) < p_art
        raw = self._vec_normal(nodes, ctr, _ART_NOISE, ns + 2)
        band = (raw[:, :-2] + raw[:, 1:-1] + raw[:, 2:]) / np.sqrt(3.0)  # ~< 15 Hz noise
        b_start = shape[:, 3] * p.window_s
        lo, hi = p.artefact_s_range
        b_len = lo + (hi - lo) * shape[:, 4]
        lo, hi = p.artefact_mv_range
        b_amp = (lo + (hi - lo) * shape[:, 5]) * burst
        mask = (tt >= b_start[:, None]) & (tt < (b_start + b_len)[:, None])
        ecg += (b_amp[:, None] * mask) * band
        ecg = np.clip(ecg, -p.adc_range_mv, p.adc_range_mv).astype(np.float32)

        # Advance the episode process to the next sample.
        u = self.stream.uniform(nodes, ctr, _EPISODE)
        self._af[nodes] = np.where(af, u >= self._p_stop[nodes], u < self._p_start[nodes])
        self._k_next[nodes] = k + 1
        details = {
            "t_s": t,
            "af": af,
            "pvc_in_window": pvc_in_window,
            "beat_t_s": beat_t,
            "pvc": pvc,
            "pac": pac,
            "heart_rate_bpm": hr,
            "activity": activity,
            "asleep": asleep,
            "artefact": burst,
        }
        return ecg, truth, details
