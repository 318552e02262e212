"""Smart-speaker audio world: one second of sound per sample, summarised as MFCC features.

Each node is a smart speaker in a home listening for a wake word ("hey nova"). A sample is
one 1 s detection window: the world synthesises the waveform (8 kHz) and returns its feature
map, 49 frames x 10 MFCC coefficients (490 values, the input layout of the MLPerf Tiny
keyword-spotting benchmark: 30 ms frames every 20 ms, 40 log-mel bands, DCT, first 10).

The sound in a window is the sum of

* **background** of the home: a quiet room (microphone self-noise only), a fan or heat pump
  (hum harmonics plus low-passed noise) or a TV that is on mostly in the evening (two words
  by TV voices over a soundtrack, synthesised afresh for every window; a few are
  keyword-like);
* **other speech** of the household: one word, either random (a syllable sequence from a
  small phoneme inventory) or a *confuser* that shares sounds with the keyword ("hey",
  "nova", "over", "hey Noah", ...), more often by day and in the evening;
* **the keyword**, "hey nova" = /h e i n o u v a/, spoken by one of the household's
  speakers with per-speaker pitch (85-260 Hz) and vocal-tract length (formant scale
  0.88-1.22, men to children), and per-utterance speed, pitch and loudness (distance); a few
  utterances are clipped by the window edge (up to 25 %).

Speech is made by a formant synthesiser in the FOF style (Rodet 1984): each glottal pulse
excites three damped sinusoids at the formant frequencies of the current phoneme (vowel
formants from Peterson & Barney 1952), with smoothed transitions, and fricatives and stop
bursts are band-limited noise. Everything is computed with numpy, vectorised across the nodes
of a call; per-sample randomness comes from the counter-based node stream, so a window is a
pure function of (node, sample index, seeds).

Keyword events follow a daily routine (most in the evening, few at night) at a per-home rate;
over a day about 2-3 % of windows hold the keyword. Ground truth: the keyword is (at least 75 %)
inside the window.

Sampling: 1 s windows every second would be 86 400 samples per node-day, far too many for a
fleet simulation over days. The world therefore treats **one sample as one detection window**
and the default period is 60 s: the speaker's always-on front end is summarised as one window
per minute, and event rates are per window.

Simplifications (stated so users can judge): 8 kHz synthesis (the features only use 20 Hz to
4 kHz, as in MLPerf Tiny KWS whose 16 kHz audio is also analysed up to 4 kHz), no room
reverberation or microphone frequency response, a synthetic phoneme-level speech model (no
prosody beyond a declining pitch, no coarticulation beyond smoothing), one keyword and at most
one other household word per window, the TV soundtrack is plain low-passed noise, noise
excitations come from 2 s banks drawn at set-up (read at random offsets), windows are
independent of each other (a keyword is never split across two windows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.physics import dsp
from twin.rng import NodeStream

DAY_S = 86_400.0
HOUR_S = 3_600.0

SAMPLE_RATE_HZ = 8_000
CLIP_SAMPLES = 8_000  # 1 s
FRAME_SAMPLES = 240  # 30 ms
HOP_SAMPLES = 160  # 20 ms
N_FFT = 256
N_FRAMES = 1 + (CLIP_SAMPLES - FRAME_SAMPLES) // HOP_SAMPLES  # 49
N_MELS = 40
N_MFCC = 10
MEL_LOW_HZ = 20.0
MEL_HIGH_HZ = 4_000.0
LOG_FLOOR = 1e-6
BANK_SAMPLES = 1 << 14  # noise banks: 2.05 s, indexed circularly
MAX_PHONEMES = 9
_CTRL = 8  # samples per synthesis control step (1 ms)
_FOF_ENERGY = 0.0014  # mean square of one FOF pulse train per Hz of f0 (measured)

# Background kinds of a home.
QUIET, FAN, TV = 0, 1, 2
BACKGROUNDS = ("quiet", "fan", "tv")

# Phoneme inventory: F1, F2, F3 [Hz] (adult male; scaled per speaker), voiced amplitude,
# noise band (-1 none), noise amplitude, duration [ms], burst (noise only in the last 35 %).
# Vowels after Peterson & Barney (1952), averages for men.
_PHONEMES = {
    "i": (270, 2290, 3010, 1.0, -1, 0.0, 95, 0),
    "I": (390, 1990, 2550, 1.0, -1, 0.0, 85, 0),
    "e": (530, 1840, 2480, 1.0, -1, 0.0, 95, 0),
    "ae": (660, 1720, 2410, 1.0, -1, 0.0, 105, 0),
    "a": (730, 1090, 2440, 1.0, -1, 0.0, 105, 0),
    "o": (570, 840, 2410, 1.0, -1, 0.0, 100, 0),
    "U": (440, 1020, 2240, 1.0, -1, 0.0, 85, 0),
    "u": (300, 870, 2240, 1.0, -1, 0.0, 95, 0),
    "V": (640, 1190, 2390, 1.0, -1, 0.0, 85, 0),
    "er": (490, 1350, 1690, 1.0, -1, 0.0, 100, 0),
    "l": (360, 1300, 2700, 0.5, -1, 0.0, 65, 0),
    "r": (310, 1060, 1380, 0.5, -1, 0.0, 65, 0),
    "m": (250, 1000, 2200, 0.35, -1, 0.0, 70, 0),
    "n": (250, 1500, 2500, 0.35, -1, 0.0, 65, 0),
    "w": (300, 610, 2200, 0.5, -1, 0.0, 60, 0),
    "j": (260, 2070, 3020, 0.5, -1, 0.0, 60, 0),
    "v": (250, 1400, 2500, 0.3, 2, 0.12, 75, 0),
    "z": (250, 1600, 2600, 0.3, 0, 0.25, 85, 0),
    "s": (500, 1500, 2500, 0.0, 0, 0.45, 100, 0),
    "S": (500, 1500, 2500, 0.0, 1, 0.45, 100, 0),
    "f": (500, 1500, 2500, 0.0, 2, 0.18, 90, 0),
    "h": (500, 1500, 2500, 0.0, 3, 0.25, 70, 0),
    "t": (500, 1500, 2500, 0.0, 4, 0.5, 75, 1),
    "k": (500, 1500, 2500, 0.0, 5, 0.5, 80, 1),
    "p": (500, 1500, 2500, 0.0, 6, 0.4, 75, 1),
    "d": (250, 1600, 2600, 0.25, 4, 0.3, 65, 1),
    "g": (250, 1500, 2500, 0.25, 5, 0.3, 70, 1),
    "b": (250, 1000, 2400, 0.25, 6, 0.25, 65, 1),
}
PHONEMES = tuple(_PHONEMES)
_TABLE = np.array([_PHONEMES[p] for p in PHONEMES], dtype=np.float64)
# Noise bands [Hz] of the fricatives (s, sh, f, h) and stop bursts (t, k, p).
_NOISE_BANDS_HZ = (
    (3000, 3950),
    (1800, 3800),
    (800, 3950),
    (400, 3500),
    (2500, 3950),
    (1200, 2600),
    (300, 1500),
)
_VOWELS = np.array(
    [PHONEMES.index(p) for p in ("i", "I", "e", "ae", "a", "o", "U", "u", "V", "er")]
)
_CONSONANTS = np.array(
    [PHONEMES.index(p) for p in ("l", "r", "m", "n", "w", "j", "v", "z", "s", "S", "f", "h",
                                  "t", "k", "p", "d", "g", "b")]
)  # fmt: skip
KEYWORD = ("h", "e", "i", "n", "o", "U", "v", "a")  # "hey nova"
CONFUSERS = (
    ("h", "e", "i"),  # "hey"
    ("n", "o", "U", "v", "a"),  # "nova"
    ("o", "U", "v", "er"),  # "over"
    ("h", "e", "i", "n", "o", "U", "a"),  # "hey Noah"
    ("h", "e", "i", "l", "o", "U"),  # "hey, low"
    ("s", "o", "U", "v", "a"),  # "sova"
    ("n", "o", "U", "v", "e", "l"),  # "novel"
    ("h", "e", "i", "n", "o", "U"),  # "hey, no"
    ("b", "o", "U", "v", "a"),  # "bova"
)
_FORMANT_BW_HZ = np.array([80.0, 100.0, 140.0])
_FORMANT_AMP = np.array([1.0, 0.55, 0.3])

# Counters: per-sample draws use k + _CTR_OFFSET (history samples have negative k).
_CTR_OFFSET = 1 << 40
# Purposes of the counter-based stream.
_P_KW = 1
_P_OTHER = 2
_P_TV = 3
_P_BG_OFF = 4
_P_BG_GAIN = 5
_P_HUM = 6  # .. 9: hum phases
_P_SELF_OFF = 10
# Utterances draw from blocks of _BLOCK purposes: block b uses _P_BLOCK + _BLOCK * b + j.
_P_BLOCK = 100
_BLOCK = 64
_B_KEYWORD, _B_OTHER, _B_TV1, _B_TV2 = 0, 1, 2, 3
_J_SPEAKER = 0
_J_SPEED = 1
_J_PITCH = 2
_J_LEVEL = 3
_J_ONSET = 4
_J_NOISE = 5
_J_FORMANT = 6  # .. 8
_J_RATE = 9
_J_CONFUSER = 10
_J_WHICH = 11
_J_LEN = 12
_J_START_VOWEL = 13
_J_VOICE = 14  # TV voices: vocal-tract draw
_J_PHONEME = 20  # .. 20 + MAX_PHONEMES
_J_DUR = 40  # .. 40 + MAX_PHONEMES


@dataclass(frozen=True)
class AudioParams:
    """Parameters of the audio world (units in names; defaults for a home smart speaker)."""

    background_probs: tuple[float, float, float] = (0.3, 0.3, 0.4)  # quiet, fan, TV homes
    self_noise_dbfs: tuple[float, float] = (-66.0, -58.0)  # MEMS mic + ADC floor
    fan_dbfs: tuple[float, float] = (-48.0, -30.0)
    fan_hum_hz: tuple[float, float] = (45.0, 125.0)
    tv_dbfs: tuple[float, float] = (-42.0, -22.0)
    tv_on_prob_by_hour: tuple[float, ...] = (
        0.05, 0.03, 0.02, 0.02, 0.02, 0.02, 0.05, 0.15, 0.2, 0.15, 0.15, 0.2,
        0.25, 0.2, 0.2, 0.25, 0.3, 0.45, 0.6, 0.75, 0.8, 0.75, 0.5, 0.2,
    )  # fmt: skip
    keyword_rate_mean: float = 0.025  # mean share of windows with the keyword, per home
    keyword_rate_sd_log: float = 0.6  # per-home spread (lognormal)
    # Relative keyword rate by hour of day (normalised to mean 1): mornings and evenings.
    keyword_profile_by_hour: tuple[float, ...] = (
        0.1, 0.05, 0.05, 0.05, 0.05, 0.1, 0.4, 1.2, 1.2, 0.7, 0.6, 0.7,
        0.9, 0.7, 0.6, 0.7, 0.9, 1.4, 2.0, 2.2, 2.2, 1.8, 1.0, 0.4,
    )  # fmt: skip
    other_speech_mean: float = 0.25  # share of windows with another word (household talk)
    other_speech_profile_by_hour: tuple[float, ...] = (
        0.05, 0.02, 0.02, 0.02, 0.02, 0.1, 0.6, 1.4, 1.3, 1.0, 1.0, 1.1,
        1.3, 1.1, 1.0, 1.1, 1.3, 1.6, 1.9, 1.9, 1.7, 1.4, 0.9, 0.4,
    )  # fmt: skip
    confuser_share: float = 0.15  # of other words: keyword-like phrases
    speakers_per_home: tuple[int, int] = (1, 4)
    pitch_hz: tuple[float, float] = (85.0, 260.0)
    formant_scale: tuple[float, float] = (0.88, 1.22)
    speech_rate: tuple[float, float] = (0.8, 1.25)  # duration factor of a speaker
    speech_dbfs: tuple[float, float] = (-38.0, -14.0)  # RMS level of a word at the mic
    home_gain_db: tuple[float, float] = (-6.0, 3.0)  # speaker placement, room size
    tv_confuser_share: float = 0.05  # of TV words: keyword-like phrases


def features(audio: np.ndarray) -> np.ndarray:
    """MFCC feature maps of 1 s clips, the front end of :func:`twin.physics.dsp.mfcc`.

    Parameters
    ----------
    audio : numpy.ndarray
        ``(n, CLIP_SAMPLES)`` waveforms (full scale = 1).

    Returns
    -------
    numpy.ndarray
        ``(n, N_FRAMES, N_MFCC)`` float32.
    """
    return dsp.mfcc(
        audio, SAMPLE_RATE_HZ, FRAME_SAMPLES, HOP_SAMPLES, N_FFT, N_MELS, N_MFCC,
        MEL_LOW_HZ, MEL_HIGH_HZ, LOG_FLOOR,
    )  # fmt: skip


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average along axis 1 (edges padded with the edge value)."""
    half = width // 2
    pad = np.pad(x, ((0, 0), (half + 1, width - half - 1)), mode="edge")
    c = np.cumsum(pad, axis=1)
    return (c[:, width:] - c[:, :-width]) / width


def _wrap(bank: np.ndarray) -> np.ndarray:
    """Float32 copy of a periodic bank with its first ``CLIP_SAMPLES`` appended."""
    return np.concatenate([bank, bank[..., :CLIP_SAMPLES]], axis=-1).astype(np.float32)


def _windows(bank: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Clips ``bank[offset : offset + CLIP_SAMPLES]`` for each offset (a wrapped 1-D bank)."""
    view = np.lib.stride_tricks.sliding_window_view(bank, CLIP_SAMPLES)
    return view[offset]


def _band_noise(rng: np.random.Generator, lo_hz: float, hi_hz: float) -> np.ndarray:
    """Unit-RMS noise band-limited to [lo, hi] Hz, periodic over ``BANK_SAMPLES``."""
    spec = np.fft.rfft(rng.standard_normal(BANK_SAMPLES))
    f = np.fft.rfftfreq(BANK_SAMPLES, 1.0 / SAMPLE_RATE_HZ)
    spec[(f < lo_hz) | (f > hi_hz)] = 0.0
    x = np.fft.irfft(spec, n=BANK_SAMPLES)
    return x / np.sqrt(np.mean(x**2))


def synthesise(
    phonemes: np.ndarray,
    f0_hz: np.ndarray,
    formant_scale: np.ndarray,
    duration_factor: np.ndarray,
    level: np.ndarray,
    onset: np.ndarray,
    dur_jitter: np.ndarray,
    formant_jitter: np.ndarray,
    noise_offset: np.ndarray,
    noise_bank: np.ndarray,
) -> np.ndarray:
    """Waveforms of ``m`` utterances placed in 1 s clips (formant synthesis, vectorised).

    Phoneme targets are looked up at a 1 ms control rate, smoothed (20 ms formant and
    voicing transitions, 5 ms noise onsets) and held for the 8 samples of each control step;
    the waveform is then computed per sample: every glottal pulse starts three damped
    sinusoids at the current formant frequencies (FOF synthesis), plus band-limited noise
    for fricatives and stop bursts.

    Parameters
    ----------
    phonemes : numpy.ndarray
        ``(m, L)`` indices into :data:`PHONEMES`, ``-1`` after the end of the word.
    f0_hz, formant_scale, duration_factor, level : numpy.ndarray
        ``(m,)`` pitch [Hz], vocal-tract formant scale, duration factor (>1 slower) and RMS
        amplitude of voiced speech (full scale 1).
    onset : numpy.ndarray
        ``(m,)`` first sample of the utterance in the clip (may be negative).
    dur_jitter : numpy.ndarray
        ``(m, L)`` relative duration change of each phoneme.
    formant_jitter : numpy.ndarray
        ``(m, 3)`` relative change of F1-F3 for this utterance.
    noise_offset : numpy.ndarray
        ``(m,)`` start of the fricative noise in the noise banks, in ``[0, BANK_SAMPLES)``.
    noise_bank : numpy.ndarray
        ``(bands, BANK_SAMPLES + CLIP_SAMPLES)`` unit-RMS band-limited noises (the first
        ``CLIP_SAMPLES`` repeated at the end, so a clip never wraps).

    Returns
    -------
    numpy.ndarray
        ``(m, CLIP_SAMPLES)`` float32 waveforms.
    """
    m, n_ph = phonemes.shape
    if m == 0:
        return np.zeros((0, CLIP_SAMPLES), dtype=np.float32)
    valid = phonemes >= 0
    tab = _TABLE[np.where(valid, phonemes, 0)]  # (m, L, 8)
    dur = tab[..., 6] * 1e-3 * SAMPLE_RATE_HZ * duration_factor[:, None] * (1 + dur_jitter)
    dur = np.where(valid, np.maximum(dur, 1.0), 0.0)
    bounds = onset[:, None] + np.concatenate([np.zeros((m, 1)), np.cumsum(dur, axis=1)], 1)

    # Control rate: one step per _CTRL samples; segment of each step by boundary counting.
    n_ctrl = CLIP_SAMPLES // _CTRL
    tc = (np.arange(n_ctrl) + 0.5) * _CTRL
    seg = (tc[None, :, None] >= bounds[:, None, 1:-1]).sum(axis=2)  # (m, n_ctrl)
    inside = (tc >= bounds[:, :1]) & (tc < bounds[:, -1:])
    at = np.take_along_axis(tab, seg[..., None], axis=1)  # (m, n_ctrl, 8)
    s0 = np.take_along_axis(bounds, seg, axis=1)
    s1 = np.take_along_axis(bounds, seg + 1, axis=1)
    pos = (tc - s0) / np.maximum(s1 - s0, 1.0)  # position within the phoneme, 0..1

    ms = SAMPLE_RATE_HZ // (1000 * _CTRL) or 1  # control steps per ms
    scale = formant_scale[:, None, None] * (1 + formant_jitter[:, None, :])
    formants = np.stack([_smooth(at[..., i], 20 * ms) for i in range(3)], axis=-1) * scale
    env = inside.astype(np.float64)
    voiced = _smooth(at[..., 3] * env, 20 * ms)
    burst_gate = np.where(at[..., 7] > 0, pos > 0.65, True)
    noise_amp = _smooth(at[..., 5] * burst_gate * env, 5 * ms)
    band = np.where(at[..., 4] >= 0, at[..., 4], 0).astype(np.int64)

    # Pitch declines over the utterance (+8 % to -8 %).
    length = np.maximum(bounds[:, -1] - bounds[:, 0], 1.0)
    progress = np.clip((tc - bounds[:, :1]) / length[:, None], 0.0, 1.0)
    f0 = f0_hz[:, None] * (1.08 - 0.16 * progress)  # (m, n_ctrl)

    def up(x: np.ndarray) -> np.ndarray:
        return np.repeat(x.astype(np.float32), _CTRL, axis=1)

    period = up(1.0 / f0)
    phase = np.cumsum(up(f0 / SAMPLE_RATE_HZ).astype(np.float64), axis=1)
    tau = (phase - np.floor(phase)).astype(np.float32) * period  # since the last pulse [s]
    wave = np.zeros((m, CLIP_SAMPLES), dtype=np.float32)
    for i in range(3):
        wave += (
            np.float32(_FORMANT_AMP[i])
            * np.exp(np.float32(-np.pi * _FORMANT_BW_HZ[i]) * tau)
            * np.sin(np.float32(2 * np.pi) * up(formants[..., i]) * tau)
        )
    # FOF pulses carry energy ~ f0; this gain makes a sustained vowel's RMS ~ 1.
    gain = voiced * np.sqrt(1.0 / (f0 * _FOF_ENERGY))
    n = np.arange(CLIP_SAMPLES)
    noise = noise_bank[up(band).astype(np.int64), noise_offset[:, None] + n[None, :]]
    out = up(gain) * wave + up(noise_amp) * noise
    return out * level.astype(np.float32)[:, None]


class AudioWorld:
    """Smart speakers in ``n_nodes`` homes, one 1 s detection window per sample.

    Node ``i`` samples at ``phase_s[i] + k * period_s`` for ``k = -history_samples, ...``. A
    window is a pure function of (node, ``k``, seeds), computed by :meth:`observe`; the
    world keeps no state besides each node's next sample index.

    Parameters
    ----------
    params : AudioParams
        World parameters.
    n_nodes : int
        Number of homes (one speaker each).
    period_s : float
        Time between detection windows [s] (default use: 60 s).
    phase_s : numpy.ndarray
        First sample time of each node [s], in ``[0, period_s)``.
    horizon_s : float
        Simulated horizon [s] (unused: windows are generated on demand).
    rng : numpy.random.Generator
        Set-up stream (homes, household speakers, noise and TV banks).
    stream : twin.rng.NodeStream
        Counter-based stream for the content of each window.
    history_samples : int
        Samples taken before ``t = 0``.
    """

    # Registry entry (twin.world.registry): the scenario kind, the parameter class, one line
    # for listings, and what a closed loop would drive (nothing: readings only).
    kind = "audio"
    params_type = AudioParams
    description = "1 s of a smart speaker's sound as 49 x 10 MFCCs; label: wake word in the window"
    actuator = None

    channels = tuple(f"mfcc_t{t:02d}_c{c}" for t in range(N_FRAMES) for c in range(N_MFCC))

    def __init__(
        self,
        params: AudioParams,
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
        self.n_nodes = n = int(n_nodes)
        self.period_s = float(period_s)
        self.phase_s = np.asarray(phase_s, dtype=np.float64)
        self.horizon_s = float(horizon_s)
        self.stream = stream
        self.history_samples = int(history_samples)
        self._k_next = np.full(n, -self.history_samples, dtype=np.int64)

        # Homes.
        self.background = rng.choice(3, size=n, p=np.asarray(p.background_probs))
        self.self_noise = 10 ** (rng.uniform(*p.self_noise_dbfs, n) / 20)
        self.fan_level = 10 ** (rng.uniform(*p.fan_dbfs, n) / 20)
        self.fan_hum_hz = rng.uniform(*p.fan_hum_hz, n)
        self.tv_level = 10 ** (rng.uniform(*p.tv_dbfs, n) / 20)
        self.home_gain = 10 ** (rng.uniform(*p.home_gain_db, n) / 20)
        kw = np.exp(rng.normal(0.0, p.keyword_rate_sd_log, n) - 0.5 * p.keyword_rate_sd_log**2)
        self.keyword_rate = p.keyword_rate_mean * kw
        self.other_rate = p.other_speech_mean * rng.uniform(0.5, 1.5, n)
        # Household speakers (up to 4 per home; a home uses the first n_speakers).
        lo, hi = p.speakers_per_home
        self.n_speakers = rng.integers(lo, hi + 1, n)
        self.spk_pitch_hz = rng.uniform(*p.pitch_hz, (n, hi))
        # Vocal-tract length scales roughly with pitch (children and women: both higher).
        rel = (self.spk_pitch_hz - p.pitch_hz[0]) / (p.pitch_hz[1] - p.pitch_hz[0])
        fs_lo, fs_hi = p.formant_scale
        self.spk_formant = np.clip(
            fs_lo + (fs_hi - fs_lo) * (0.7 * rel + 0.3 * rng.uniform(size=(n, hi))), fs_lo, fs_hi
        )
        self.spk_rate = rng.uniform(*p.speech_rate, (n, hi))

        # Shared banks: fricative/burst noises, the fan's low-passed noise, and TV speech.
        # Each bank repeats its first CLIP_SAMPLES at the end: a window at any offset in
        # [0, BANK_SAMPLES) is a contiguous slice (read through a sliding-window view).
        bands = np.stack([_band_noise(rng, lo_, hi_) for lo_, hi_ in _NOISE_BANDS_HZ])
        self.noise_bank = _wrap(bands)
        self.white_bank = _wrap(_band_noise(rng, 0.0, SAMPLE_RATE_HZ / 2))
        spec = np.fft.rfft(rng.standard_normal(BANK_SAMPLES))
        f = np.fft.rfftfreq(BANK_SAMPLES, 1.0 / SAMPLE_RATE_HZ)
        fan = np.fft.irfft(spec / np.sqrt(1.0 + (f / 300.0) ** 2), n=BANK_SAMPLES)
        self.fan_bank = _wrap(fan / np.sqrt(np.mean(fan**2)))

        self._kw_profile = np.asarray(p.keyword_profile_by_hour, dtype=np.float64)
        self._kw_profile = self._kw_profile / self._kw_profile.mean()
        self._talk_profile = np.asarray(p.other_speech_profile_by_hour, dtype=np.float64)
        self._talk_profile = self._talk_profile / self._talk_profile.mean()
        self._tv_on = np.asarray(p.tv_on_prob_by_hour, dtype=np.float64)
        self._keyword = np.array([PHONEMES.index(x) for x in KEYWORD])
        conf = np.full((len(CONFUSERS), MAX_PHONEMES), -1, dtype=np.int64)
        for i, word in enumerate(CONFUSERS):
            conf[i, : len(word)] = [PHONEMES.index(x) for x in word]
        self._confusers = conf

    # -- content -----------------------------------------------------------------------------
    def _time(self, nodes: np.ndarray, k: np.ndarray) -> np.ndarray:
        return self.phase_s[nodes] + k * self.period_s

    def _hour(self, t: np.ndarray) -> np.ndarray:
        return ((t % DAY_S) // HOUR_S).astype(np.int64)

    def keyword_probability(self, nodes: np.ndarray, t_s: np.ndarray) -> np.ndarray:
        """Probability that the window at ``t_s`` holds the keyword (daily routine).

        Parameters
        ----------
        nodes : numpy.ndarray
            Node indices.
        t_s : numpy.ndarray
            Window times [s].

        Returns
        -------
        numpy.ndarray
            Probabilities in [0, 1].
        """
        prob = self.keyword_rate[nodes] * self._kw_profile[self._hour(np.asarray(t_s))]
        return np.clip(prob, 0.0, 1.0)

    def _word(
        self, nodes: np.ndarray, ctr: np.ndarray, block: int, confuser_share: float
    ) -> np.ndarray:
        """Phonemes of a non-keyword word: random syllables, or a keyword-like confuser."""
        s = self.stream
        base = _P_BLOCK + _BLOCK * block
        length = 2 + s.integers(nodes, ctr, base + _J_LEN, MAX_PHONEMES - 1)
        start_vowel = s.uniform(nodes, ctr, base + _J_START_VOWEL) < 0.3
        ph = np.full((len(nodes), MAX_PHONEMES), -1, dtype=np.int64)
        for j in range(MAX_PHONEMES):
            vowel = (j % 2 == 1) ^ start_vowel
            pick = s.uniform(nodes, ctr, base + _J_PHONEME + j)
            v = _VOWELS[np.minimum((pick * len(_VOWELS)).astype(np.int64), len(_VOWELS) - 1)]
            c = _CONSONANTS[
                np.minimum((pick * len(_CONSONANTS)).astype(np.int64), len(_CONSONANTS) - 1)
            ]
            ph[:, j] = np.where(j < length, np.where(vowel, v, c), -1)
        conf = s.uniform(nodes, ctr, base + _J_CONFUSER) < confuser_share
        which = s.integers(nodes, ctr, base + _J_WHICH, len(CONFUSERS))
        return np.where(conf[:, None], self._confusers[which], ph)

    def _utterance(
        self,
        nodes: np.ndarray,
        ctr: np.ndarray,
        block: int,
        ph: np.ndarray,
        pitch_hz: np.ndarray,
        formant_scale: np.ndarray,
        speed: np.ndarray,
        level: np.ndarray,
    ) -> np.ndarray:
        """Synthesise one utterance per node with per-utterance variation (stream block)."""
        s = self.stream
        base = _P_BLOCK + _BLOCK * block
        pitch = pitch_hz * (1 + 0.06 * s.normal(nodes, ctr, base + _J_PITCH))
        speed = speed * (1 + 0.08 * s.normal(nodes, ctr, base + _J_SPEED))
        dur_j = np.stack(
            [0.12 * s.normal(nodes, ctr, base + _J_DUR + j) for j in range(ph.shape[1])], axis=1
        )
        valid = ph >= 0
        nominal = (_TABLE[np.where(valid, ph, 0), 6] * valid).sum(axis=1)
        length = nominal * 1e-3 * SAMPLE_RATE_HZ * speed
        # Up to 25 % of the utterance may fall outside the window.
        u = s.uniform(nodes, ctr, base + _J_ONSET)
        onset = -0.25 * length + u * (CLIP_SAMPLES - 0.5 * length)
        f_j = np.stack(
            [0.04 * s.normal(nodes, ctr, base + _J_FORMANT + i) for i in range(3)], axis=1
        )
        off = s.integers(nodes, ctr, base + _J_NOISE, BANK_SAMPLES)
        return synthesise(
            ph, pitch, formant_scale, speed, level, onset, dur_j, f_j, off, self.noise_bank
        )

    def _household(
        self, nodes: np.ndarray, ctr: np.ndarray, block: int, ph: np.ndarray
    ) -> np.ndarray:
        """An utterance by one of the home's speakers, at a random distance."""
        p = self.params
        s = self.stream
        base = _P_BLOCK + _BLOCK * block
        spk = s.integers(nodes, ctr, base + _J_SPEAKER, 4) % self.n_speakers[nodes]
        lo, hi = p.speech_dbfs
        level_db = lo + (hi - lo) * s.uniform(nodes, ctr, base + _J_LEVEL)
        level = 10 ** (level_db / 20) * self.home_gain[nodes]
        return self._utterance(
            nodes,
            ctr,
            block,
            ph,
            self.spk_pitch_hz[nodes, spk],
            self.spk_formant[nodes, spk],
            self.spk_rate[nodes, spk],
            level,
        )

    def observe(self, nodes: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Window ``k`` of each node: a pure function of (node, ``k``, seeds).

        Parameters
        ----------
        nodes : numpy.ndarray
            Node indices (any order, repeats allowed).
        k : numpy.ndarray
            Sample index of each node.

        Returns
        -------
        features : numpy.ndarray
            ``(len(nodes), 490)`` float32 MFCC map, frame-major (frame t, coefficient c at
            ``t * 10 + c``).
        keyword : numpy.ndarray
            Ground truth (bool): the keyword is spoken in the window.
        """
        audio, keyword = self.audio(nodes, k)
        return features(audio).reshape(len(nodes), -1), keyword

    def audio(self, nodes: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Waveform of window ``k`` of each node (8 kHz, 1 s) and the keyword truth.

        Parameters
        ----------
        nodes : numpy.ndarray
            Node indices.
        k : numpy.ndarray
            Sample index of each node.

        Returns
        -------
        audio : numpy.ndarray
            ``(len(nodes), CLIP_SAMPLES)`` float32 waveforms (full scale 1).
        keyword : numpy.ndarray
            bool, the keyword is in the window.
        """
        p = self.params
        s = self.stream
        nodes = np.asarray(nodes, dtype=np.int64)
        k = np.asarray(k, dtype=np.int64)
        ctr = (k + _CTR_OFFSET).astype(np.uint64)
        t = self._time(nodes, k)
        hour = self._hour(t)
        n = np.arange(CLIP_SAMPLES)

        # Background: microphone floor, plus the home's fan or TV (when on).
        off = s.integers(nodes, ctr, _P_SELF_OFF, BANK_SAMPLES)
        audio = _windows(self.white_bank, off)
        audio *= self.self_noise[nodes, None].astype(np.float32)
        bg = self.background[nodes]
        gain = 10 ** (0.1 * s.normal(nodes, ctr, _P_BG_GAIN))  # +-2.3 dB from window to window
        off = s.integers(nodes, ctr, _P_BG_OFF, BANK_SAMPLES)
        fan = bg == FAN
        if fan.any():
            i = np.flatnonzero(fan)
            nd, c = nodes[i], ctr[i]
            hum = _windows(self.fan_bank, off[i])
            nf = n.astype(np.float32)
            for h, a in enumerate((0.6, 0.3, 0.18, 0.12)):
                ph = (2 * np.pi * s.uniform(nd, c, _P_HUM + h)).astype(np.float32)
                w = (2 * np.pi * (h + 1) * self.fan_hum_hz[nd] / SAMPLE_RATE_HZ).astype(np.float32)
                hum += np.float32(a) * np.sin(w[:, None] * nf + ph[:, None])
            audio[i] += (self.fan_level[nd] * gain[i]).astype(np.float32)[:, None] * hum
        tv = (bg == TV) & (s.uniform(nodes, ctr, _P_TV) < self._tv_on[hour])
        if tv.any():
            # TV: a soundtrack (low-passed noise, -12 dB) under two words by TV voices.
            i = np.flatnonzero(tv)
            nd, c = nodes[i], ctr[i]
            level = self.tv_level[nd] * gain[i]
            audio[i] += (0.25 * level).astype(np.float32)[:, None] * _windows(self.fan_bank, off[i])
            for block in (_B_TV1, _B_TV2):
                base = _P_BLOCK + _BLOCK * block
                pitch = p.pitch_hz[0] + (p.pitch_hz[1] - p.pitch_hz[0]) * s.uniform(
                    nd, c, base + _J_SPEAKER
                )
                rel = (pitch - p.pitch_hz[0]) / (p.pitch_hz[1] - p.pitch_hz[0])
                fs_lo, fs_hi = p.formant_scale
                formant = fs_lo + (fs_hi - fs_lo) * (
                    0.7 * rel + 0.3 * s.uniform(nd, c, base + _J_VOICE)
                )
                speed = 0.85 + 0.3 * s.uniform(nd, c, base + _J_RATE)
                ph = self._word(nd, c, block, p.tv_confuser_share)
                audio[i] += self._utterance(nd, c, block, ph, pitch, formant, speed, level)

        # Other speech of the household: a random word or a keyword-like phrase.
        talk_p = np.clip(self.other_rate[nodes] * self._talk_profile[hour], 0.0, 1.0)
        other = s.uniform(nodes, ctr, _P_OTHER) < talk_p
        if other.any():
            i = np.flatnonzero(other)
            ph = self._word(nodes[i], ctr[i], _B_OTHER, p.confuser_share)
            audio[i] += self._household(nodes[i], ctr[i], _B_OTHER, ph)

        # The keyword.
        keyword = s.uniform(nodes, ctr, _P_KW) < self.keyword_probability(nodes, t)
        if keyword.any():
            i = np.flatnonzero(keyword)
            ph = np.ascontiguousarray(np.broadcast_to(self._keyword, (len(i), len(KEYWORD))))
            audio[i] += self._household(nodes[i], ctr[i], _B_KEYWORD, ph)
        return audio, keyword

    def sample(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Take the next window of each node in ``nodes`` (unique indices).

        Returns
        -------
        features : numpy.ndarray
            ``(len(nodes), 490)`` float32 MFCC map (49 frames x 10 coefficients).
        keyword : numpy.ndarray
            Ground truth (bool): the keyword is spoken in the window.
        """
        nodes = np.asarray(nodes, dtype=np.int64)
        k = self._k_next[nodes]
        obs = self.observe(nodes, k)
        self._k_next[nodes] = k + 1
        return obs
