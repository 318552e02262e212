"""Policies: what a node does with each reading — decide on the device, in the cloud, or both.

A policy sees each batch of samples of one fleet group (as arrays: which nodes, which sample,
and, if it runs the device model, the model's score and decision) and answers with
:class:`Actions`: whether the device's own decision acts now, and what, if anything, goes on
the uplink. The fleet carries the actions out (radio, energy, channel, cloud); the policy
never touches physics. A policy object is built per fleet group, so it may keep per-node
state in arrays of the group's size.

Write your own by subclassing :class:`Policy` and naming it in the scenario::

    policies:
      - on_device
      - {name: night_cloud, module: my_policies.py, class: NightCloud, params: {hour: 22}}

The module path is relative to the scenario file; it is the only code a scenario can run,
and only because you named it.

Message kinds a policy can send
-------------------------------
``READING``    the raw reading (the cloud keeps each node's window up to date and decides);
``DECISION``   the device's decision (for the application upstream; nothing comes back);
``HEARTBEAT``  a keep-alive with the current decision;
``WINDOW``     the whole model input window, for the cloud model to decide on (escalation);
``BATCH``      the readings buffered since the last batch, for the cloud to decide on the
               newest window.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twin.errors import ScenarioError

READING, DECISION, HEARTBEAT, WINDOW, BATCH = range(5)
NONE = -1
KIND_NAMES = {READING: "reading", DECISION: "decision", HEARTBEAT: "heartbeat",
              WINDOW: "window", BATCH: "batch"}  # fmt: skip


@dataclass
class Batch:
    """The samples of one group handled together (all arrays aligned).

    Attributes
    ----------
    nodes, k : numpy.ndarray
        Node index and sample index of each sample.
    t_s : numpy.ndarray
        Sample times [s].
    score, decision : numpy.ndarray or None
        The device model's positive-class score and decision (None if the policy does not
        run the device model).
    """

    nodes: np.ndarray
    k: np.ndarray
    t_s: np.ndarray
    score: np.ndarray | None
    decision: np.ndarray | None


@dataclass
class Actions:
    """What the nodes of a batch do.

    Attributes
    ----------
    act : numpy.ndarray of bool
        The device's decision acts at once (needs the device model).
    send : numpy.ndarray of int
        Message kind to send per sample (``NONE``: nothing).
    """

    act: np.ndarray
    send: np.ndarray


class Policy:
    """Base class: runs the device model, acts on it, reports changes and a heartbeat.

    Parameters
    ----------
    heartbeat_period_s : float
        Longest silence before a heartbeat [s] (the group's ``heartbeat_period_s``).
    """

    #: Name in results (overridden by the scenario's ``name``).
    name = "policy"
    #: Whether the device model runs on every sample (costs compute energy).
    runs_device_model = True
    #: Readings per ``BATCH`` message (for policies that batch).
    readings_per_message = 1
    #: Whether the policy sends ``WINDOW`` messages (the payload then holds a whole window).
    sends_windows = False

    def setup(self, n: int, heartbeat_period_s: float) -> None:
        """Per-group state; called once per fleet group before the run."""
        self.heartbeat_period_s = heartbeat_period_s
        self.reported = np.full(n, -1, dtype=np.int8)
        self.last_report_s = np.full(n, -np.inf)

    def act(self, batch: Batch) -> Actions:
        """Decide what each sample of ``batch`` does. Override this."""
        raise NotImplementedError

    def sent(self, batch: Batch, actions: Actions, on_air: np.ndarray) -> None:
        """Learn which messages went on air (the rest were held back by the radio)."""
        kinds = actions.send
        done = on_air & ((kinds == DECISION) | (kinds == HEARTBEAT))
        if batch.decision is not None and done.any():
            self.reported[batch.nodes[done]] = batch.decision[done]
            self.last_report_s[batch.nodes[done]] = batch.t_s[done]

    # -- helpers for subclasses ----------------------------------------------------------------
    def report_changes(self, batch: Batch, mask: np.ndarray | None = None) -> np.ndarray:
        """Messages that keep the application informed of the device's decisions.

        ``DECISION`` where the decision changed since last reported, ``HEARTBEAT`` when the
        node has been silent for a heartbeat period, else ``NONE`` (only within ``mask``).
        """
        changed = batch.decision.astype(np.int8) != self.reported[batch.nodes]
        beat = batch.t_s - self.last_report_s[batch.nodes] >= self.heartbeat_period_s
        send = np.where(changed, DECISION, np.where(beat, HEARTBEAT, NONE))
        if mask is not None:
            send = np.where(mask, send, NONE)
        return send


class OnDevice(Policy):
    """Decide on the board; send only decision changes and a heartbeat."""

    name = "on_device"

    def act(self, batch: Batch) -> Actions:
        """Every decision acts at once; changes and heartbeats go up."""
        return Actions(np.ones(len(batch.nodes), dtype=bool), self.report_changes(batch))


class Cloud(Policy):
    """Send every reading; the cloud model decides and the decision comes back."""

    name = "cloud"
    runs_device_model = False

    def act(self, batch: Batch) -> Actions:
        """Every reading goes up; nothing acts on the device."""
        m = len(batch.nodes)
        return Actions(np.zeros(m, dtype=bool), np.full(m, READING))


class Cascade(Policy):
    """The device model screens; windows it is unsure about go to the cloud model.

    Parameters
    ----------
    low, high : float
        The device decides alone when its score is below ``low`` or above ``high``; in
        between, it sends the window and the cloud's decision acts when it comes back.
        In the units of the model's score (probabilities for classifiers).
    """

    name = "cascade"
    sends_windows = True

    def __init__(self, low: float = 0.2, high: float = 0.8) -> None:
        if not low <= high:
            raise ValueError(f"cascade needs low <= high, got low={low}, high={high}")
        self.low, self.high = float(low), float(high)

    def act(self, batch: Batch) -> Actions:
        """Sure scores act on the device; unsure windows go to the cloud."""
        unsure = (batch.score >= self.low) & (batch.score <= self.high)
        send = np.where(unsure, WINDOW, self.report_changes(batch, ~unsure))
        return Actions(~unsure, send)


class BatchedUpload(Policy):
    """Buffer readings and send them together; the cloud decides on the newest window.

    Parameters
    ----------
    readings_per_message : int
        Readings per uplink.
    """

    name = "batched_upload"
    runs_device_model = False

    def __init__(self, readings_per_message: int = 6) -> None:
        if int(readings_per_message) != readings_per_message or readings_per_message < 1:
            raise ValueError(f"readings_per_message must be a whole number >= 1, "
                             f"got {readings_per_message!r}")  # fmt: skip
        self.readings_per_message = int(readings_per_message)

    def act(self, batch: Batch) -> Actions:
        """Send a batch every ``readings_per_message`` samples."""
        full = (batch.k + 1) % self.readings_per_message == 0
        return Actions(np.zeros(len(batch.nodes), dtype=bool), np.where(full, BATCH, NONE))


BUILTIN: dict[str, type[Policy]] = {
    "on_device": OnDevice,
    "cloud": Cloud,
    "cascade": Cascade,
    "batched_upload": BatchedUpload,
}


@dataclass(frozen=True)
class PolicyPlan:
    """A policy as the scenario names it: built afresh for every fleet group.

    ``cls`` is None for a user's policy whose module was checked but not imported
    (``twin validate`` without ``--import-policies``): such a plan validates, it does not run.
    """

    name: str
    cls: type[Policy] | None
    params: dict[str, Any]

    def build(self) -> Policy:
        """A new policy object (per-node state starts empty)."""
        if self.cls is None:
            raise ScenarioError(f"policy '{self.name}': its module was not imported")
        return build_policy(self.cls, self.params, self.name)


def find_policy_module(module: str, base_dir: Path, allow_outside: bool = False) -> Path:
    """The policy module file a scenario names, refused when it lies outside ``base_dir``.

    Importing a module runs its code, so by default only code that sits beside the scenario
    (in its folder or below, after symlinks are resolved) is run; anything else needs the
    user's explicit ``allow_outside`` (``--allow-outside-policies``).
    """
    root = Path(base_dir).resolve()
    path = (root / module).resolve()
    if not path.is_file():
        raise ScenarioError(
            f"policy module not found: {path}; give a .py file path relative to the scenario"
        )
    if not allow_outside and not path.is_relative_to(root):
        raise ScenarioError(
            f"policy module {path} lies outside the scenario's folder {root}; twin runs only "
            "policy code beside the scenario: move it there, or pass --allow-outside-policies "
            "(allow_outside_policies=True) if you trust it"
        )
    return path


def check_policy_source(path: Path, class_name: str) -> None:
    """Check, without running it, that a module parses and defines ``class_name``."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"policy module {path} does not parse: {exc}") from None
    if not any(isinstance(n, ast.ClassDef) and n.name == class_name for n in tree.body):
        raise ScenarioError(f"{path} has no class named '{class_name}'")


def load_policy_class(
    module: str, class_name: str, base_dir: Path, allow_outside: bool = False
) -> type[Policy]:
    """Import a user's policy class from a module file the scenario names explicitly."""
    path = find_policy_module(module, base_dir, allow_outside)
    spec = importlib.util.spec_from_file_location(f"twin_user_policy_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except BaseException as exc:  # the user's code (even sys.exit): report it, do not crash
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise ScenarioError(f"cannot import policy module {path}: {exc!r}") from None
    cls = getattr(mod, class_name, None)
    if not (inspect.isclass(cls) and issubclass(cls, Policy)):
        raise ScenarioError(f"{path} has no Policy subclass named '{class_name}'")
    return cls


def build_policy(cls: type[Policy], params: dict[str, Any], name: str) -> Policy:
    """Instantiate a policy with its parameters; bad parameters are input errors."""
    try:
        policy = cls(**params)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"policy '{name}': {exc}") from None
    policy.name = name
    return policy
