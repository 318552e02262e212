"""The ``twin`` command line: a thin layer over :mod:`twin.api`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from twin.errors import TwinError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="twin: a simulation-first digital twin for fleets of TinyML devices.",
)


@app.callback()
def _root() -> None:
    """Decide on the device, in the cloud, or both: simulate a fleet and compare policies."""


def _fail(exc: TwinError) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=2)


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _print_table(summary: dict) -> None:
    """One column per (policy, group), one row per metric: fits a narrow terminal."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    results = summary["results"]
    table = Table(title=f"twin: {summary['scenario']['name']} (seed {summary['scenario']['seed']})")
    table.add_column("metric")
    for r in results:
        table.add_column(escape(f"{r['policy']}\n{r['group']}"), justify="right")

    def life(r: dict) -> str:
        b = r["battery_life_days"]
        return _fmt(b["median"], ",.0f") + (" (proj.)" if b["projected"] else "")

    rows = [
        ("nodes", lambda r: str(r["nodes"])),
        ("decision latency p50 [s]", lambda r: _fmt(r["latency_s"]["p50"], ".3g")),
        ("decision latency p95 [s]", lambda r: _fmt(r["latency_s"]["p95"], ".3g")),
        ("uplink bytes per node-day", lambda r: _fmt(r["bytes_per_node_day"], ",.0f")),
        ("air time [s]", lambda r: _fmt(r["airtime_s"], ",.0f")),
        ("uplinks lost to collisions", lambda r: f"{r['uplink_lost']['collision']:,}"),
        ("energy per node-day [J]", lambda r: _fmt(r["energy_per_node_day_j"], ".3g")),
        ("battery life, median [days]", life),
        ("cloud inferences", lambda r: f"{r['inferences_cloud']:,}"),
        ("decision F1", lambda r: _fmt(r["decision"]["f1"], ".3f")),
    ]
    for label, cell in rows:
        table.add_row(escape(label), *(cell(r) for r in results))
    Console().print(table)


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
) -> None:
    """Run every policy of a scenario and write summary.json, nodes.csv and report.html.

    Example: twin run scenarios/farm.yaml --out results/farm --seed 7
    """
    from twin import api

    try:
        result = api.run(scenario, seed=seed, batch_window_s=batch_window_s)
    except TwinError as exc:
        _fail(exc)
        return
    target = out if out is not None else Path("results") / result.summary["scenario"]["name"]
    api.write_results(result, target)
    _print_table(result.summary)
    samples = result.manifest["node_samples"]
    wall = result.manifest["wall_time_s"]
    typer.echo(f"{samples:,} node-samples in {wall:.1f} s; results in {target}/ (report.html)")


def main() -> None:
    """Console-script entry point."""
    app(prog_name="twin")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
