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
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"twin: {summary['scenario']['name']} (seed {summary['scenario']['seed']})")
    for col in (
        "policy",
        "group",
        "nodes",
        "latency p50 s",
        "latency p95 s",
        "bytes /node-day",
        "airtime s",
        "energy J /node-day",
        "battery life d (median)",
        "F1",
    ):
        table.add_column(col, justify="left" if col in ("policy", "group") else "right")
    for r in summary["results"]:
        life = r["battery_life_days"]
        life_txt = _fmt(life["median"], ",.0f") + (" proj." if life["projected"] else "")
        table.add_row(
            r["policy"],
            r["group"],
            str(r["nodes"]),
            _fmt(r["latency_s"]["p50"], ".3g"),
            _fmt(r["latency_s"]["p95"], ".3g"),
            _fmt(r["bytes_per_node_day"], ",.0f"),
            _fmt(r["airtime_s"], ",.0f"),
            _fmt(r["energy_per_node_day_j"], ".3g"),
            life_txt,
            _fmt(r["decision"]["f1"], ".3f"),
        )
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
