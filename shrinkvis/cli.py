"""The `shrinkvis` command: a thin layer over the Python API.

Each command parses its options, calls the pipeline and prints. A `UserError` becomes one line on
stderr and exit code 2; any other `ShrinkvisError` one line and exit code 1.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from .errors import ShrinkvisError

app = typer.Typer(
    name="shrinkvis",
    help="Animations of partial pooling: how a mixed model shrinks per-cluster estimates.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

F = TypeVar("F", bound=Callable[..., Any])

OutOption = Annotated[Path, typer.Option("--out", help="Root folder; files go to OUT/<scenario>/.")]
FormatOption = Annotated[
    str | None, typer.Option("--format", help="Comma-separated subset of gif,mp4,png (default: all).")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a scenario key, e.g. --set data.sd_int=1 (repeatable)."),
]


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"shrinkvis: error: {message}", err=True)
    return typer.Exit(code)


def user_errors(command: F) -> F:
    """Turn shrinkvis errors into one line on stderr and the error's exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ShrinkvisError as exc:
            raise _fail(str(exc), exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _overrides(sets: list[str] | None, formats: str | None) -> list[str]:
    overrides = list(sets or [])
    if formats:
        overrides.append(f"animation.formats={formats}")
    return overrides


@app.command()
@user_errors
def run(
    scenario: Annotated[str, typer.Argument(help="A built-in scenario name or a path to a YAML file.")],
    out: OutOption = Path("out"),
    format: FormatOption = None,
    set: SetOption = None,
) -> None:
    """Render one scenario: GIF, MP4, PNG, estimates.csv and summary.json.

    Example: shrinkvis run baseline --set data.sd_int=1 --format gif,png
    """
    from . import pipeline
    from . import scenario as scenarios

    loaded = scenarios.load(scenario, _overrides(set, format))
    result = pipeline.run(loaded, out)
    for warning in result.estimates.warnings:
        typer.echo(f"shrinkvis: warning: {warning}", err=True)
    typer.echo(
        f"{loaded.name}: wrote {', '.join(sorted(p.name for p in result.files.values()))} in {result.out_dir}"
    )


@app.command()
def batch(
    scenarios: Annotated[
        list[str] | None, typer.Argument(help="Scenario names or YAML paths (default: every built-in one).")
    ] = None,
    out: OutOption = Path("out"),
    format: FormatOption = None,
    set: SetOption = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Scenarios rendered at once, each in its own process (default: the number of cores).",
        ),
    ] = None,
) -> None:
    """Render several scenarios in parallel, going on past failures and listing them at the end.

    Example: shrinkvis batch baseline fewer_obs --out slides/ --jobs 2
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from . import batch as batches
    from . import scenario as scenario_files

    names = list(scenarios or scenario_files.builtin_names())
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(f"rendering {len(names)} scenarios", total=len(names))

        def done(outcome: batches.Outcome) -> None:
            for warning in outcome.warnings:
                progress.console.print(f"{outcome.name}: warning: {warning}", style="yellow", markup=False)
            progress.advance(task)
            progress.update(task, description=f"{'failed' if outcome.failed else 'rendered'} {outcome.name}")

        outcomes = batches.run_all(names, out, _overrides(set, format), jobs, on_done=done)
    failures = [outcome for outcome in outcomes if outcome.failed]
    typer.echo(f"rendered {len(names) - len(failures)} of {len(names)} scenarios into {out}")
    if failures:
        for outcome in failures:
            typer.echo(f"failed: {outcome.name}: {outcome.error}", err=True)
        raise typer.Exit(1)


@app.command("list")
def list_scenarios() -> None:
    """List the built-in scenarios and their titles.

    Example: shrinkvis list
    """
    from . import scenario as scenarios

    for name in scenarios.builtin_names():
        typer.echo(f"{name:<18} {scenarios.load(name).display_title}")


@app.command()
@user_errors
def validate(
    path: Annotated[str, typer.Argument(help="A scenario YAML file (or a built-in name).")],
) -> None:
    """Check a scenario file and print its settings with all defaults filled in.

    Example: shrinkvis validate my_scenario.yaml
    """
    import yaml

    from . import scenario as scenarios

    loaded = scenarios.load(path)
    typer.echo(f"{path}: valid")
    typer.echo(yaml.safe_dump(loaded.model_dump(mode="json"), sort_keys=False).rstrip())


def main() -> None:
    """The console command. Once the command is done, the process ends at once: tearing down the
    modules a run loaded (pandas, statsmodels, matplotlib) takes another 0.3–0.5 s that nobody needs."""
    try:
        app()
        code: Any = 0
    except SystemExit as exc:  # how click ends every command, with the exit code
        code = exc.code
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError):  # e.g. a closed pipe: `shrinkvis list | head -1`
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
