"""The `shrinkvis` command: a thin layer over the Python API.

Each command parses its options, calls the pipeline and prints. A `UserError` becomes one line on
stderr and exit code 2; any other `ShrinkvisError` one line and exit code 1.
"""

from __future__ import annotations

import functools
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
    str | None, typer.Option("--format", help="Comma-separated subset of gif,mp4,png,svg (default: all).")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a scenario key, e.g. --set data.sd_int=1 (repeatable)."),
]


ViewOption = Annotated[
    str | None,
    typer.Option("--view", help="shrinkage (default), stages, lines or funnel; names the output files."),
]
PresetOption = Annotated[
    str | None, typer.Option("--preset", help="small 600×450 (default), slide 1280×720 or square 800×800.")
]
ThemeOption = Annotated[str | None, typer.Option("--theme", help="light (default) or dark.")]


def _look_overrides(view: str | None, preset: str | None, theme: str | None) -> list[str]:
    """--view/--preset/--theme are shorthands for --set animation.view=… (and so on)."""
    given = {"view": view, "preset": preset, "theme": theme}
    return [f"animation.{key}={value}" for key, value in given.items() if value is not None]


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
    view: ViewOption = None,
    preset: PresetOption = None,
    theme: ThemeOption = None,
) -> None:
    """Render one scenario: GIF, MP4, PNG stills, SVG, estimates.csv and summary.json.

    Example: shrinkvis run baseline --view stages --preset slide --set data.sd_int=1
    """
    from . import pipeline
    from . import scenario as scenarios

    loaded = scenarios.load(scenario, [*_look_overrides(view, preset, theme), *_overrides(set, format)])
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
) -> None:
    """Render several scenarios, going on past failures and listing them at the end.

    Example: shrinkvis batch baseline fewer_obs --out slides/
    """
    from rich.progress import Progress

    from . import pipeline
    from . import scenario as scenario_files

    names = list(scenarios or scenario_files.builtin_names())
    failures: list[tuple[str, str]] = []
    with Progress(transient=False) as progress:
        task = progress.add_task("rendering", total=len(names))
        for name in names:
            progress.update(task, description=f"rendering {name}")
            try:
                loaded = scenario_files.load(name, _overrides(set, format))
                result = pipeline.run(loaded, out)
                for warning in result.estimates.warnings:
                    progress.console.print(f"{name}: warning: {warning}", style="yellow", markup=False)
            except ShrinkvisError as exc:
                failures.append((name, str(exc)))
            except Exception as exc:  # one broken scenario must not stop the others
                failures.append((name, f"{type(exc).__name__}: {exc}"))
            progress.advance(task)
    done = len(names) - len(failures)
    typer.echo(f"rendered {done} of {len(names)} scenarios into {out}")
    if failures:
        for name, reason in failures:
            typer.echo(f"failed: {name}: {reason}", err=True)
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
    app()


if __name__ == "__main__":
    sys.exit(main())
