"""The ``twin`` command line: a thin layer over :mod:`twin.api`."""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import typer

from twin.errors import ScenarioError, TwinError
from twin.terminal import print_summary, print_warnings, printable, wrap

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="twin: a simulation-first digital twin for fleets of TinyML devices.",
)


@app.callback()
def _root() -> None:
    """Decide on the device, in the cloud, or both: simulate a fleet and compare policies."""


def _fail(exc: TwinError) -> None:
    text = str(exc)
    if isinstance(exc, ScenarioError) and exc.file is None and exc.key_path is None:
        text = exc.message  # not from a scenario file (twin profile's model or board)
    typer.echo("error: " + printable(text).strip(), err=True)
    for more in getattr(exc, "more", ()):  # every problem of one pass, one line each
        typer.echo("error: " + printable(str(more)).strip(), err=True)
    raise typer.Exit(code=2)


def _refuse(message: str) -> None:
    """A bad command-line option: one error line, exit 2 (before anything is read)."""
    _fail(TwinError(message))


def _interrupted(what: str) -> None:
    """Ctrl-C: say what was kept and how to go on, exit 130 (the shell's code for SIGINT)."""
    typer.echo(f"interrupted: {printable(what)}", err=True)
    raise typer.Exit(code=130)


OUTSIDE_HELP = (
    "Run policy modules that lie outside the scenario's folder (importing a module runs its "
    "code; by default only code beside the scenario is run)."
)
NO_BUDGET_HELP = (
    "Run even when the estimate (memory, wall time, time-series rows, fault intervals) "
    "exceeds what this machine can do in reasonable time."
)


def _check_seed(seed: int | None) -> None:
    if seed is not None and seed < 0:
        _refuse(f"--seed must be a whole number >= 0, got {seed}")


def _check_batch_window(window: float | None) -> None:
    if window is not None and not (math.isfinite(window) and window >= 0):
        _refuse(f"--batch-window-s must be a finite number of seconds >= 0, got {window}")


@app.command()
def run(
    scenario: Path = typer.Argument(..., help="Scenario YAML file.", show_default=False),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Results directory [default: results/<scenario name>]."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Override the scenario's world.seed."),
    batch_window_s: float | None = typer.Option(
        None, "--batch-window-s", help="Engine batching window [s]; results do not depend on it."
    ),
    events: bool = typer.Option(
        False, "--events", help="Also write events.csv: every sample and decision (small runs)."
    ),
    images: bool = typer.Option(
        False, "--images", help="Also write images/plot-*.png and .svg (needs kaleido)."
    ),
    telemetry: str | None = typer.Option(
        None,
        "--telemetry",
        help="Also write telemetry/<policy>.*: the simulated LoRa uplinks "
        "as chirpstack (v4 events), ttn (Things Stack v3 messages) or csv.",
    ),  # fmt: skip
    no_budget: bool = typer.Option(False, "--no-budget", help=NO_BUDGET_HELP),
    outside: bool = typer.Option(False, "--allow-outside-policies", help=OUTSIDE_HELP),
) -> None:
    """Run every policy of a scenario and write summary.json, nodes.csv and report.html.

    Example: twin run scenarios/farm.yaml --out results/farm --seed 7
    """
    from twin import api
    from twin.config.loader import load_scenario
    from twin.results.outdir import check_results_dir

    _check_seed(seed)
    _check_batch_window(batch_window_s)
    try:
        if images:
            api._require_kaleido()  # fail before a long run, not after it
        if telemetry is not None:
            from twin.telemetry.formats import check_format

            check_format(telemetry)
        # The scenario file first (a bad file is named as such), then a results folder twin
        # may not replace (a user's folder, a file, '.'): both fail in milliseconds, not
        # after the run.
        name = load_scenario(scenario).name
        target = out if out is not None else api.default_results_dir(name)
        check_results_dir(target, inputs=[scenario])
        with _run_progress() as progress:
            result = api.run(
                scenario, seed=seed, batch_window_s=batch_window_s, record_events=events,
                budget=not no_budget, allow_outside_policies=outside, progress=progress,
                telemetry=telemetry is not None,
            )  # fmt: skip
        api.write_results(result, target, images=images, events=events, telemetry=telemetry)
    except TwinError as exc:
        _fail(exc)
        return
    except MemoryError:
        _refuse(
            "out of memory: the run is larger than this machine can hold (twin validate "
            "prints the estimate; without --no-budget such runs are refused up front)"
        )
    except KeyboardInterrupt:
        # write_results moves a complete folder into place at the very end, or nothing.
        _interrupted(
            "nothing was written (results appear only when a run completes); run the "
            "command again to start over"
        )
    print_summary(result.summary)
    print_warnings(result.summary, lambda line: typer.echo(line, err=True))
    samples = result.manifest["node_samples"]
    wall = result.manifest["wall_time_s"]
    done = f"{samples:,} node-samples in {wall:.1f} s; results in {target}/ (report.html)"
    typer.echo(wrap(done))


# What a value of the wrong type raises deep in the report (a dict where text was, ...).
_RENDER_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError, ArithmeticError)


class _damaged:
    """Results that load but cannot be rendered: edited files, or another twin's layout.

    load_results checks the files' structure; a value of the wrong type deeper down (a
    latency that is text) only shows when the report reads it. That is the folder's
    fault, not a twin bug, so it is reported as such, naming the folder.
    """

    def __init__(self, *folders: Path) -> None:
        self.folders = folders

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> None:
        if kind is not None and issubclass(kind, _RENDER_ERRORS):
            where = ", ".join(str(f) for f in self.folders)
            raise TwinError(
                f"{where}: cannot render these results ({kind.__name__}: {exc}); were their "
                "files edited, or written by another twin version? Run the scenario again"
            ) from None


@app.command()
def report(
    results: Path = typer.Argument(..., help="Results directory of a run.", show_default=False),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="HTML file [default: RESULTS/report.html]."
    ),
    images: bool = typer.Option(
        False, "--images", help="Also write RESULTS/images/plot-*.png and .svg (needs kaleido)."
    ),
) -> None:
    """Re-render the HTML report from a saved results directory.

    Example: twin report results/farm
    """
    from twin import api

    try:
        result = api.load_results(results)
        with _damaged(results):
            if images:
                api.write_images(result, results / "images")
            target = api.write_report(result, out if out is not None else results / "report.html")
    except TwinError as exc:
        _fail(exc)
        return
    typer.echo(f"report written to {target}")


@app.command()
def compare(
    results: list[Path] = typer.Argument(
        ..., help="Two or more results directories.", show_default=False
    ),
    label: list[str] | None = typer.Option(
        None, "--label", "-l", help="Label of each run, in order [default: directory names]."
    ),
    out: Path = typer.Option(Path("compare.html"), "--out", "-o", help="HTML report to write."),
) -> None:
    """Put several runs side by side (e.g. two boards, two radios) in one report.

    Example: twin compare results/farm results/farm_solar -o farm_vs_solar.html
    """
    from twin import api

    labels = list(label) if label else [p.resolve().name for p in results]
    if not label and len(set(labels)) < len(labels):
        labels = [str(p).replace("/", "_") for p in results]  # same names: use the paths
    try:
        runs = [api.load_results(p) for p in results]
        merged = api.compare(runs, labels)
        with _damaged(*results):
            print_summary(merged.summary)
            target = api.write_report(merged, out)
    except TwinError as exc:
        _fail(exc)
        return
    typer.echo(f"comparison written to {target}")


@app.command()
def sweep(
    study: Path = typer.Argument(..., help="Study YAML file.", show_default=False),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Study directory [default: results/<study name>]."
    ),
    workers: int | None = typer.Option(
        None, "--workers", "-j", help="Local processes [default: all cores]."
    ),
    in_process: bool = typer.Option(
        False, "--in-process", help="Run every run in this process (no pool)."
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786."
    ),
    dask_local: int | None = typer.Option(
        None, "--dask-local", help="Start a loopback Dask LocalCluster of N workers."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Finish an interrupted study: skip the runs already done."
    ),
    no_budget: bool = typer.Option(False, "--no-budget", help=NO_BUDGET_HELP),
    outside: bool = typer.Option(False, "--allow-outside-policies", help=OUTSIDE_HELP),
) -> None:
    """Run a what-if study: every configuration x seed, one tidy table and a study report.

    Example: twin sweep examples/farm_study.yaml --workers 2
    """
    from twin import study as st

    if sum([in_process, scheduler is not None, dask_local is not None]) > 1:
        _fail(TwinError("choose one of --in-process, --scheduler, --dask-local"))
    _check_sweep_options(workers, dask_local, scheduler)
    executor = "inprocess" if in_process else "dask" if scheduler or dask_local else "process"
    try:
        with _progress() as progress:
            result = st.run_study(
                study, out=out, executor=executor, workers=workers, scheduler=scheduler,
                dask_local=dask_local, resume=resume, progress=progress, budget=not no_budget,
                allow_outside_policies=outside,
            )  # fmt: skip
    except TwinError as exc:
        _fail(exc)
        return
    except KeyboardInterrupt:
        _interrupted(_sweep_kept(study, out))
    s = result.summary
    typer.echo(
        f"{s['runs_planned']} runs ({s['runs_failed']} failed) in {s['wall_time_s']:.1f} s; "
        f"table in {result.directory}/study.csv, report in {result.directory}/report.html"
    )


# host:port after a Dask protocol; the host a name, IPv4 or [IPv6] address.
_SCHEDULER = re.compile(r"^(tcp|tls|ws|wss|ucx)://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$")


def _check_sweep_options(workers: int | None, dask_local: int | None, scheduler: str | None):
    """Workers and Dask options, refused before the study file is read."""
    import os

    # Each worker is a Python process with numpy and onnxruntime loaded (~150 MB): far more
    # of them than cores only competes for the cores and exhausts memory.
    cores = os.cpu_count() or 1
    for flag, n in (("--workers", workers), ("--dask-local", dask_local)):
        if n is not None and not 1 <= n <= 8 * cores:
            _refuse(f"{flag} must be between 1 and {8 * cores} ({cores} cores x 8), got {n}")
    if scheduler is not None:
        m = _SCHEDULER.match(scheduler)
        if m is None or not 1 <= int(m.group(3)) <= 65535:
            _refuse(
                f"--scheduler {scheduler!r} is not a Dask scheduler address; expected "
                "PROTOCOL://HOST:PORT, e.g. tcp://10.0.0.5:8786"
            )


def _sweep_kept(study: Path, out: Path | None) -> str:
    """What an interrupted sweep kept, and the command that finishes it."""
    from twin import api
    from twin import study as st

    if out is None:
        try:
            out = api.default_results_dir(st.load_study(study)[0].name)
        except TwinError:
            return "nothing was written"
    journal = out / "runs.jsonl"
    try:
        finished = journal.read_bytes().count(b"\n")
    except OSError:
        return "nothing was run yet (interrupted while planning)"
    return (
        f"{finished} finished run(s) are kept in {journal}; finish the study with: "
        f"twin sweep {study} --out {out} --resume"
    )


class _run_progress:
    """A bar with simulated progress and ETA while ``twin run`` works, on a terminal only."""

    def __enter__(self):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        console = Console(stderr=True)
        self.bar = None
        if not console.is_terminal:
            return None  # CI logs and pipes stay quiet
        self.bar = Progress(
            TextColumn("simulating"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(),
            console=console, transient=True,
        )  # fmt: skip
        self.bar.__enter__()
        self.task = self.bar.add_task("run", total=1.0)
        return self.update

    def update(self, fraction: float) -> None:
        self.bar.update(self.task, completed=fraction)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


class _progress:
    """A progress bar with runs done, failures and ETA on a terminal; silent otherwise."""

    def __enter__(self):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        console = Console(stderr=True)
        self.bar = None
        if console.is_terminal:
            self.bar = Progress(
                TextColumn("runs"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[failed]} failed"), TimeRemainingColumn(),
                console=console, transient=True,
            )  # fmt: skip
            self.bar.__enter__()
            self.task = self.bar.add_task("runs", total=None, failed=0)
        return self.update

    def update(self, done: int, total: int, failed: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total, failed=failed)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


@app.command()
def validate(
    scenario: Path = typer.Argument(..., help="Scenario YAML file.", show_default=False),
    no_budget: bool = typer.Option(False, "--no-budget", help=NO_BUDGET_HELP),
    import_policies: bool = typer.Option(
        False,
        "--import-policies",
        help="Import (run) user policy modules to check their class, parameters and fit; "
        "by default their source is only parsed.",
    ),
    outside: bool = typer.Option(False, "--allow-outside-policies", help=OUTSIDE_HELP),
) -> None:
    """Check a scenario (keys, types, ranges, profiles, model files, fit) without running it.

    Prints the run's estimate too: node-samples, memory and wall time on one core. A user
    policy module is parsed, not run, unless --import-policies is given.

    Example: twin validate scenarios/farm.yaml
    """
    from twin import api

    try:
        summary = api.validate(
            scenario, budget=not no_budget, import_policies=import_policies,
            allow_outside_policies=outside,
        )  # fmt: skip
    except TwinError as exc:
        _fail(exc)
        return
    typer.echo(printable(f"{scenario}: valid ({summary})"))


@app.command()
def schema() -> None:
    """Print the JSON Schema of scenario files (for editor completion and validation).

    Example: twin schema > scenario.schema.json
    """
    import json

    from twin.config.schema import Scenario

    typer.echo(json.dumps(Scenario.model_json_schema(), indent=2))


@app.command("profile")
def profile_cmd(
    model: str = typer.Argument(
        ..., help="ONNX or TFLite file, or the name of a zoo model.", show_default=False
    ),
    board: str = typer.Option(..., "--board", "-b", help="Board profile id (see: twin boards)."),
    runtime: str | None = typer.Option(
        None, "--runtime", "-r", help="Runtime id [default: the board's default runtime]."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    frontend_ops: float | None = typer.Option(
        None,
        "--frontend-ops",
        help="Work of the model's DSP front end [float ops]; zoo models bring theirs.",
    ),
) -> None:
    """Latency, energy, flash and RAM of one inference of a model on a board.

    Latency and energy come with a range (the calibration fit's held-out error) and, where
    the prediction is not calibrated (no measurement for the core and runtime, an fp32
    model), notes on what it assumes. Exits 1 when the model does not fit the board, 2 on
    bad input.

    Example: twin profile soil_irrigation --board nano33ble --runtime tflm-cmsis-nn
    """
    import json

    from twin import api

    try:
        graph, est = api.profile(model, board, runtime, frontend_ops)
    except TwinError as exc:
        _fail(exc)
        return
    if as_json:
        typer.echo(json.dumps({
            "model": str(model), "board": est.board, "runtime": est.runtime,
            "macs": est.macs, "ops": est.ops, "flash_bytes": est.flash_bytes,
            "ram_bytes": est.ram_bytes, "board_flash_bytes": est.board_flash_bytes,
            "board_ram_bytes": est.board_ram_bytes, "latency_s": est.latency_s,
            "energy_j": est.energy_j, "fits": est.fits,
            "latency_by_class_s": dict(est.latency_by_class_s),
            "precision": est.precision, "calibrated": est.calibrated,
            "assumptions": list(est.assumptions),
            "latency_range_s": list(est.latency_range_s),
            "energy_range_j": list(est.energy_range_j),
        }, indent=2))  # fmt: skip
    else:
        _print_profile(graph, est)
    if not est.fits:
        typer.echo(f"does not fit: {est.misfit()}", err=True)
        raise typer.Exit(code=1)


def _print_profile(graph, est) -> None:
    from rich.console import Console
    from rich.table import Table

    by_op: dict[tuple[str, str], list[int]] = {}
    for n in graph.nodes:
        if n.op_class in ("free",):
            continue
        row = by_op.setdefault((n.op_type, n.op_class), [0, 0, 0])
        row[0] += 1
        row[1] += n.macs
        row[2] += n.ops
    t = Table(title=f"{est.board} / {est.runtime}: per op type")
    for col in ("op type", "class", "nodes", "MACs", "ops"):
        t.add_column(col, justify="left" if col in ("op type", "class") else "right")
    for (op, cls), (count, macs, ops) in sorted(by_op.items(), key=lambda kv: -kv[1][1]):
        t.add_row(op, cls, str(count), f"{macs:,}", f"{ops:,}")
    console = Console()
    console.print(t)
    s = Table(title="totals", show_header=False)
    s.add_column("what")
    s.add_column("value", justify="right")
    for cls, sec in est.latency_by_class_s.items():
        if sec:
            s.add_row(f"latency, {cls}", f"{sec * 1e3:,.3f} ms")
    s.add_row("latency", f"{est.latency_s * 1e3:,.3f} ms")
    lo, hi = est.latency_range_s
    s.add_row("latency range", f"{lo * 1e3:,.3f} - {hi * 1e3:,.3f} ms")
    s.add_row("energy", f"{est.energy_j * 1e6:,.1f} uJ")
    lo, hi = est.energy_range_j
    s.add_row("energy range", f"{lo * 1e6:,.1f} - {hi * 1e6:,.1f} uJ")
    s.add_row("precision", est.precision)
    s.add_row("calibrated (fitted factors only)", "yes" if est.calibrated else "no")
    s.add_row("MACs", f"{est.macs:,}")
    flash = f"{est.flash_bytes / 1024:,.1f} / {est.board_flash_bytes / 1024:,.0f} KiB"
    ram = f"{est.ram_bytes / 1024:,.1f} / {est.board_ram_bytes / 1024:,.0f} KiB"
    s.add_row("flash (weights + runtime) / board", flash)
    s.add_row("RAM (arena + runtime) / board", ram)
    s.add_row("fits", "yes" if est.fits else "NO")
    console.print(s)
    # The range is the calibration fit's held-out error; what the estimate rests on beyond
    # the fitted factors is said in words, wrapped to the terminal with a hanging indent.
    import textwrap

    for note in est.assumptions:
        wrapped = textwrap.fill(
            note, width=max(console.width - 1, 40), initial_indent="note: ",
            subsequent_indent="      ",
        )  # fmt: skip
        console.print(wrapped, highlight=False, markup=False)


@app.command("boards")
def boards_cmd() -> None:
    """List board and runtime profiles, yours (./device_profiles/) included.

    twin profiles lists every kind: radios, batteries, sensors, worlds, zoo models, ...

    Example: twin boards
    """
    from twin.catalog import catalog

    try:
        entries = catalog("board", Path(".")) + catalog("runtime", Path("."))
    except TwinError as exc:
        _fail(exc)
        return
    _print_catalog(entries)


KINDS_HELP = (
    "One kind: boards, radios, batteries, sensors, runtimes, propagation, servers, worlds, "
    "zoo (default: every kind)."
)


@app.command()
def calibrate(
    telemetry: Path = typer.Argument(..., help="The network server's log.", show_default=False),
    scenario: Path = typer.Option(
        ...,
        "--scenario",
        "-s",
        help="The scenario the fleet was planned with.",
        show_default=False,
    ),
    out: Path = typer.Option(Path("calibrated"), "--out", "-o", help="New or empty folder."),
    fmt: str | None = typer.Option(
        None, "--format", "-f", help="chirpstack, ttn or csv (default: guessed from the file)."
    ),
    positions: Path | None = typer.Option(
        None, "--positions", help="CSV of device, x_m, y_m (e.g. a run's nodes.csv)."
    ),
    group: str | None = typer.Option(None, "--group", help="Its LoRa group, if it has several."),
    policy: str | None = typer.Option(
        None, "--policy", help="The policy the log shows (default: cloud)."
    ),
    no_validate: bool = typer.Option(
        False, "--no-validate", help="Skip the twin's run over the log's span."
    ),
) -> None:
    """Fit a deployed fleet's telemetry into a scenario of that fleet, with a report.

    Example: twin calibrate uplinks.jsonl --scenario farm.yaml --out farm-deployed
    """
    from twin.deployed.calibrate import calibrate as fit
    from twin.deployed.output import check_out, write_calibration

    try:
        if fmt is not None:
            from twin.telemetry.formats import check_format

            check_format(fmt)
        check_out(out)
        cal = fit(telemetry, scenario, fmt, positions, group, policy, not no_validate)
        write_calibration(cal, out)
    except TwinError as exc:
        _fail(exc)
        return
    r = cal.report
    lines = [f"{r['devices_calibrated']} of {r['devices']} devices calibrated into "
             f"{len(r['groups'])} group(s); twin from {r['telemetry']['last_utc']}"]  # fmt: skip
    skipped = r["telemetry"]["skipped"]
    if skipped:
        kinds = ", ".join(f"{k} x{v:,}" for k, v in skipped.items())
        lines.append(f"skipped {sum(skipped.values()):,} records ({kinds}; see calibration.md)")
    if r["path_loss"]:
        pl = r["path_loss"]
        lines.append(
            f"path loss: n = {pl['path_loss_exponent']}, sigma = {pl['shadowing_sd_db']} dB"
        )
    if r.get("validation"):
        v = r["validation"]
        worst = v["delivery_ratio_difference_max"]
        lines.append(f"delivery ratio, twin vs observed: {v['devices_within_0_05']} of "
                     f"{v['devices']} devices within 0.05 (max {worst})")  # fmt: skip
    lines.append(
        f"written to {out}/ (scenario.yaml, calibration.md); next: twin run {out}/scenario.yaml"
    )
    for line in lines:
        typer.echo(wrap(line))


@app.command("init")
def init_cmd(
    world: str = typer.Argument("soil", help="World the fleet senses (see: twin profiles worlds)."),
    radio: str = typer.Option("sx1262", "--radio", "-r", help="Radio profile id."),
    out: Path = typer.Option(Path("scenario.yaml"), "--out", "-o", help="File to write."),
) -> None:
    """Write a commented starting scenario for a world and a radio (it runs as written).

    Never overwrites a file: exits 2 if OUT exists.

    Example: twin init heart --radio nrf52840-ble --out wearables.yaml
    """
    from twin.init import scenario_text

    if out.exists():
        _refuse(f"{out} exists; twin init never overwrites a file (choose another --out)")
    try:
        text = scenario_text(world, radio, name=out.stem)
    except TwinError as exc:
        _fail(exc)
        return
    try:
        with open(out, "x", encoding="utf-8") as f:  # "x": fails if it appeared meanwhile
            f.write(text)
    except OSError as exc:
        _refuse(f"cannot write {out}: {exc.strerror}")
    typer.echo(f"wrote {out}; run it with: twin run {out}")


@app.command("profiles")
def profiles_cmd(
    kind: str | None = typer.Argument(None, help=KINDS_HELP, show_default=False),
    folder: Path | None = typer.Option(
        None, "--dir", help="List this folder's device_profiles/ too (default: the current one)."
    ),
    scenario: Path | None = typer.Option(
        None, "--scenario", help="List the device_profiles/ beside this scenario file too."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the records as JSON."),
) -> None:
    """List boards, radios, batteries, sensors, runtimes, ..., worlds and zoo models.

    Each with its key figures. Your own profiles (device_profiles/ in the current folder,
    --dir or beside --scenario) are listed too, with the profile each one extends.

    Example: twin profiles boards --scenario scenarios/farm.yaml
    """
    import json

    from twin.catalog import catalog

    if folder is not None and scenario is not None:
        _refuse("give --dir or --scenario, not both (--scenario means its folder)")
    if scenario is not None and not scenario.is_file():
        _refuse(f"--scenario {scenario}: no such file")
    base = scenario.parent if scenario is not None else folder or Path(".")
    if not base.is_dir():
        _refuse(f"--dir {base}: not a folder")
    try:
        entries = catalog(kind, base)
    except TwinError as exc:
        _fail(exc)
        return
    if as_json:
        typer.echo(json.dumps([e.to_dict() for e in entries], indent=2))
    else:
        _print_catalog(entries)


# Kinds whose ids say too little without the long name (a cell's chemistry, a sensor's part).
_NAMED_KINDS = ("battery", "sensor", "world")
# Figures that may wrap (lists, descriptions); every other figure stays on one line.
_WRAPPED = ("runs on", "variants", "channels")
_ONE_PER_LINE = ("variants",)  # a variant's name and size are not split across lines


def _catalog_figures(e, columns: list[tuple[str, ...]]) -> list[str]:
    """One text per column: the stacked figures one per line (a cell of an error: 'error')."""
    if e.error is not None:
        return ["error"] + [""] * (len(columns) - 1)
    texts = []
    for group in columns:
        text = "\n".join(e.summary.get(label, "") for label in group)
        texts.append(text.replace(", ", "\n") if group[0] in _ONE_PER_LINE else text)
    return texts


def _catalog_id(e) -> str:
    """The id, and under it where the profile comes from if it is not twin's own."""
    if e.origin == "twin":
        return e.id
    notes = [e.origin] + ["replaces twin's"] * e.replaces_shipped
    notes += [f"extends {e.extends}"] * bool(e.extends)
    return f"{e.id}\n({', '.join(notes)})"


def _print_catalog(entries: list) -> None:
    """One table per kind, readable at 80 columns; errors are printed under their table."""
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from twin.catalog import KINDS, catalog_columns

    def cell(text: str) -> str:
        return "\n".join(escape(printable(line)) for line in text.split("\n"))

    console = Console()
    by_kind: dict[str, list] = {}
    for e in entries:
        by_kind.setdefault(e.kind, []).append(e)
    for kind, rows in by_kind.items():
        labels = list(dict.fromkeys(label for e in rows for label in e.summary))
        columns = catalog_columns(kind, labels)
        folders = "; ".join(dict.fromkeys(f"{e.origin}: {e.folder}" for e in rows))
        t = Table(title=KINDS[kind], box=box.SIMPLE_HEAD, caption=cell(folders),
                  caption_justify="left", show_edge=False, padding=(0, 1, 0, 0))  # fmt: skip
        # Ids and figures keep their line; names and lists wrap to make room (a word longer
        # than its column is folded, never cut off). A fixed width is what keeps rich from
        # narrowing the id column, whose notes (yours, extends ...) wrap within it.
        longest_id = max(len(printable(e.id)) for e in rows)
        t.add_column("id", overflow="fold", width=max(longest_id, 10) if longest_id <= 24 else None)
        if kind in _NAMED_KINDS:
            t.add_column("name", min_width=12, overflow="fold")
        for group in columns:
            t.add_column(cell("\n".join(group)), no_wrap=group[0] not in _WRAPPED, overflow="fold")
        for e in rows:
            name = [cell(e.name)] if kind in _NAMED_KINDS else []
            figures = (cell(f) for f in _catalog_figures(e, columns))
            t.add_row(cell(_catalog_id(e)), *name, *figures)
        console.print(t)
        for e in rows:
            if e.error is not None:
                console.print(cell(f"{KINDS[kind]} {e.id}: error: {e.error}"), style="red")
        console.print()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="twin")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
