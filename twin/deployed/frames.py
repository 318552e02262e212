"""From a network server's log to frames, and from frames to each device's figures.

Pure functions on :class:`twin.telemetry.uplinks.Uplinks`; no I/O. What is taken as what:

* **Receptions and frames.** Rows with the same device, frame counter and gateway within
  :data:`SAME_FRAME_S` of each other are one reception logged twice (a duplicate: dropped and
  counted); the same counter at several gateways is one frame heard by several.
* **Counter resets.** A device's counter that falls below the highest it had sent, later
  than a duplicate could arrive, restarts a new *epoch* (a reboot, a re-join); the fit
  treats epochs apart and counts the resets.
* **Timing.** Within each epoch the frame counter steps once per report, so a frame's time is
  ``anchor + period x fcnt + jitter``: the period is the least-squares slope over all of a
  device's epochs, the jitter the spread of the residuals (the range of N uniform draws,
  scaled by (N + 1) / (N - 1) to undo its bias). Devices whose residuals spread over more
  than :data:`PERIODIC_SPREAD` of the period report on events, not a period: their median
  interval is given and flagged.
* **Losses.** The frames a device sent are those its counter spans in each epoch; the ones
  missing were lost (frames lost after its last one heard cannot be seen, nor before its first).
* **Links.** Per device and gateway: the mean RSSI and SNR over its receptions [dB] and the
  share of the device's frames that gateway heard.
* **Battery.** The device's last reported voltage, through its pack's open-circuit voltage
  curve, gives its state of charge; where one reading step (:data:`VOLTAGE_STEP_V`) spans
  more than :data:`SOC_IDENTIFIED` of charge (a flat Li-SOCl2 plateau), the charge is not
  identified by the voltage, and said so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from twin.physics import battery as battery_physics
from twin.telemetry.uplinks import Uplinks

SAME_FRAME_S = 60.0  # receptions of one frame reach the server within this of each other [s]
PERIODIC_SPREAD = 0.1  # residual spread (share of the period) above which a device is not periodic
# Assumption: a reported battery voltage is good to +/-10 mV (ADC steps of a few mV plus the
# ripple of a reading taken under load); range 5-20 mV.
VOLTAGE_STEP_V = 0.01
SOC_IDENTIFIED = 0.05  # the most state of charge one voltage step may span to count as known


@dataclass(frozen=True)
class Cleaned:
    """A log cleaned into receptions and frames (see the module docstring)."""

    receptions: Uplinks  # without duplicates
    epoch: np.ndarray  # per reception: its device's counter epoch (0, 1, ... after resets)
    duplicates: int
    resets: dict[str, int]  # device -> counter resets seen
    multi_gateway_frames: int  # frames heard by more than one gateway
    frame: np.ndarray  # per reception: the index of its frame (device, epoch, counter)


def clean(u: Uplinks) -> Cleaned:
    """Drop duplicate receptions and number each device's counter epochs."""
    u = u.take(np.lexsort((u.gateway.astype(str), u.fcnt, u.time_s, u.device.astype(str))))
    epoch = np.zeros(len(u), dtype=np.int64)
    keep = np.ones(len(u), dtype=bool)
    resets: dict[str, int] = {}
    names = u.device.astype(str)
    bounds = np.flatnonzero(np.r_[True, names[1:] != names[:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        e, top, top_t = 0, -1, -np.inf
        seen: dict[tuple[int, int, str], float] = {}
        for i in range(a, b):
            f, t = int(u.fcnt[i]), float(u.time_s[i])
            if f < top and t - top_t > SAME_FRAME_S:
                e, top, seen = e + 1, -1, {}  # the counter restarted
            key = (e, f, u.gateway[i])
            if key in seen and t - seen[key] <= SAME_FRAME_S:
                keep[i] = False  # the same reception again
                continue
            seen[key] = t
            epoch[i] = e
            if f >= top:
                top, top_t = f, t
        if e:
            resets[names[a]] = e
    u, epoch = u.take(keep), epoch[keep]
    frames = _frame_index(u, epoch)
    multi = int(np.sum(np.bincount(frames) > 1))
    return Cleaned(u, epoch, int((~keep).sum()), resets, multi, frames)


def _frame_index(u: Uplinks, epoch: np.ndarray) -> np.ndarray:
    """Per reception, the index of its frame (device, epoch, counter)."""
    keys = np.array([f"{d}\x00{e}\x00{f}" for d, e, f in zip(u.device, epoch, u.fcnt, strict=True)])
    return np.unique(keys, return_inverse=True)[1].ravel()


@dataclass(frozen=True)
class DeviceFits:
    """Per device (sorted by name), what its frames say; per gateway in ``gateways`` order."""

    device: np.ndarray
    dev_eui: np.ndarray
    gateways: tuple[str, ...]
    frames: np.ndarray  # frames received
    sent: np.ndarray  # frames its counter spans (received + lost)
    epochs: np.ndarray
    period_s: np.ndarray  # fitted report period [s]
    period_se_s: np.ndarray  # its standard error [s]
    periodic: np.ndarray  # whether it reports on a period (else: median interval)
    jitter_s: np.ndarray  # spread of its report times about the period [s]
    anchor_s: np.ndarray  # time of counter 0 of its last epoch, less any jitter [s, POSIX]
    first_s: np.ndarray
    last_s: np.ndarray
    sf: np.ndarray  # spreading factor of its last frame
    sf_changes: np.ndarray  # times its spreading factor changed (ADR)
    rssi_dbm: np.ndarray  # (devices, gateways), NaN where never heard
    snr_db: np.ndarray
    heard: np.ndarray  # (devices, gateways) frames each gateway heard
    battery_v: np.ndarray  # last reported (NaN: none)
    battery_time_s: np.ndarray

    @property
    def delivery_ratio(self) -> np.ndarray:
        """Frames received over frames sent, per device."""
        return self.frames / np.maximum(self.sent, 1)


def fit_devices(c: Cleaned, gateways: tuple[str, ...]) -> DeviceFits:
    """Each device's timing, losses, links and battery reading (module docstring)."""
    u, epoch, frame = c.receptions, c.epoch, c.frame
    all_names = u.device.astype(str)
    by_device = np.argsort(all_names, kind="stable")
    names, starts = np.unique(all_names[by_device], return_index=True)
    cols: dict[str, list] = {k: [] for k in DeviceFits.__dataclass_fields__}
    gw_index = {g: i for i, g in enumerate(gateways)}
    for name, rows in zip(names, np.split(by_device, starts[1:]), strict=True):
        _, first_rows = np.unique(frame[rows], return_index=True)
        fr = rows[first_rows]  # one reception per frame: the earliest
        fr = fr[np.lexsort((u.fcnt[fr], epoch[fr]))]
        t, f, e = u.time_s[fr], u.fcnt[fr], epoch[fr]
        period, periodic, jitter, anchor, se = _timing(t, f, e)
        sent = sum(int(f[e == k].max() - f[e == k].min() + 1) for k in np.unique(e))
        sf_seq = u.sf[fr[np.argsort(t, kind="stable")]]
        rssi, snr, heard = (np.full(len(gateways), np.nan) for _ in range(3))
        for g, gi in gw_index.items():
            m = rows[u.gateway[rows] == g]
            heard[gi] = len(m)
            if len(m):
                rssi[gi], snr[gi] = u.rssi_dbm[m].mean(), u.snr_db[m].mean()
        bat = rows[np.isfinite(u.battery_v[rows])]
        last_bat = bat[np.argmax(u.time_s[bat])] if len(bat) else None
        for key, value in (
            ("device", name), ("dev_eui", u.dev_eui[rows[0]]), ("frames", len(fr)),
            ("sent", sent), ("epochs", int(e.max()) + 1), ("period_s", period),
            ("periodic", periodic), ("period_se_s", se), ("jitter_s", jitter), ("anchor_s", anchor),
            ("first_s", t.min()), ("last_s", t.max()), ("sf", int(sf_seq[-1])),
            ("sf_changes", int(np.sum(sf_seq[1:] != sf_seq[:-1]))), ("rssi_dbm", rssi),
            ("snr_db", snr), ("heard", heard),
            ("battery_v", np.nan if last_bat is None else u.battery_v[last_bat]),
            ("battery_time_s", np.nan if last_bat is None else u.time_s[last_bat]),
        ):  # fmt: skip
            cols[key].append(value)
    out = {k: np.array(v) for k, v in cols.items() if k != "gateways"}
    for k in ("rssi_dbm", "snr_db", "heard"):
        out[k] = np.array(cols[k]).reshape(len(names), len(gateways))
    return DeviceFits(gateways=tuple(gateways), **out)


def _timing(t: np.ndarray, f: np.ndarray, e: np.ndarray) -> tuple[float, bool, float, float, float]:
    """Period, whether periodic, jitter, anchor and the period's standard error."""
    if len(t) < 3:
        return np.nan, False, np.nan, float(t[-1]) if len(t) else np.nan, np.nan
    # One slope over every epoch, each with its own intercept.
    fm = np.zeros(len(t))
    tm = np.zeros(len(t))
    for k in np.unique(e):
        m = e == k
        fm[m], tm[m] = f[m].mean(), t[m].mean()
    df, dt = f - fm, t - tm
    if not np.any(df):
        return np.nan, False, np.nan, float(t[-1]), np.nan
    period = float(np.sum(df * dt) / np.sum(df * df))
    resid = dt - period * df
    n = len(t)
    spread = float(resid.max() - resid.min())
    periodic = period > 0 and spread <= PERIODIC_SPREAD * period
    if not periodic:
        steps = np.diff(t)[np.diff(f) > 0] / np.diff(f)[np.diff(f) > 0]
        median = float(np.median(steps)) if len(steps) else np.nan
        return median, False, np.nan, float(t[-1]), np.nan
    last = e == e.max()
    # Counter 0 of the last epoch, at the earliest a frame of it could have left.
    anchor = float(tm[last][0] - period * fm[last][0] + resid.min())
    se = float(np.std(resid) / math.sqrt(np.sum(df * df)))
    return period, True, spread * (n + 1) / (n - 1), anchor, se


# A node's crystal runs up to this fast or slow (+/-50 ppm covers common MCU crystals).
CLOCK_DRIFT = 50e-6


def whole_seconds(period_s: np.ndarray, se_s=0.0, tolerance_s: float = 0.05) -> np.ndarray:
    """Periods rounded to whole seconds where they lie close enough to one.

    Firmware sets report periods in whole seconds; a fitted period a little off one is that
    period seen through jitter and clock drift. Close enough: within ``tolerance_s``, four
    standard errors of the fit (a short log) or :data:`CLOCK_DRIFT` of the period. Others
    are kept as fitted.
    """
    p = np.asarray(period_s, dtype=float)
    se = np.nan_to_num(np.asarray(se_s, dtype=float), nan=0.0)
    r = np.round(p)
    tol = np.maximum(np.maximum(tolerance_s, 4 * se), CLOCK_DRIFT * np.abs(p))
    return np.where(np.abs(p - r) <= tol, r, p)


def state_of_charge(
    v: np.ndarray, soc_points, v_points, v_step: float = VOLTAGE_STEP_V
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """State of charge from reported voltages: estimate, span of one step, and identified."""
    v = np.asarray(v, dtype=float)
    soc = np.full(v.shape, np.nan)
    span = np.full(v.shape, np.nan)
    ok = np.isfinite(v)
    if soc_points is None or not ok.any():
        return soc, span, np.zeros(v.shape, dtype=bool)
    soc[ok] = battery_physics.soc_from_v(v[ok], soc_points, v_points)
    span[ok] = battery_physics.soc_resolution(soc[ok], soc_points, v_points, v_step)
    return soc, span, ok & (span <= SOC_IDENTIFIED)
