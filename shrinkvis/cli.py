"""The `shrinkvis` command: a thin layer over the Python API.

Each command parses its options, calls the pipeline and prints. A `UserError` becomes one line on
stderr and exit code 2; any other `ShrinkvisError` or unexpected exception one line and exit code 1;
Ctrl-C exit code 130 (SIGTERM 143). Never a traceback, unless `--debug` asks for one.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from .errors import Interrupted, ShrinkvisError, unexpected

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


# a table of your own instead of a scenario (run, explain)
DataOption = Annotated[
    Path | None, typer.Option("--data", help="CSV, TSV or Parquet: a file, a glob ('events/*.parquet') or a directory.")
]
YOption = Annotated[str | None, typer.Option("--y", help="With --data: column of the outcome.")]
GroupOption = Annotated[
    str | None, typer.Option("--group", help="With --data: column of the cluster labels (text or numbers).")
]
XOption = Annotated[
    str | None, typer.Option("--x", help="With --data: column of the predictor (omit for y ~ 1 + (1 | group)).")
]
RandomOption = Annotated[
    str | None, typer.Option("--random", help="With --data: slope, (x | group), or intercept, (1 | group).")
]
FormulaOption = Annotated[
    str | None,
    typer.Option("--formula", help="With --data, instead of the columns: e.g. 'Reaction ~ Days + (Days | Subject)'."),
]
TitleOption = Annotated[str | None, typer.Option("--title", help="With --data: title (default: the file name).")]
EngineOption = Annotated[
    str | None, typer.Option("--engine", help="exact, statsmodels or bayes (same as --set model.engine=...).")
]
ViewOption = Annotated[
    str | None,
    typer.Option("--view", help="shrinkage (default), stages, lines, funnel or caterpillar; names the output files."),
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
    one_line = " ".join(message.split("\n"))  # a promise to scripts: one line, whatever the message
    typer.echo(f"shrinkvis: error: {one_line}", err=True)
    return typer.Exit(code)


_debug = False  # set by --debug: print tracebacks as well


@app.callback()
def _options(
    debug: Annotated[
        bool,
        typer.Option("--debug", envvar="SHRINKVIS_DEBUG", help="Print the traceback of an error as well."),
    ] = False,
) -> None:
    global _debug
    _debug = debug


def _show_traceback() -> None:
    if _debug:
        traceback.print_exc(file=sys.stderr)
        drawn = getattr(sys.exc_info()[1], "drawing_traceback", None)  # raised in the drawing process
        if drawn:
            print(f"In the drawing process:\n{drawn}", end="", file=sys.stderr)


def user_errors(command: F) -> F:
    """Turn every error into one line on stderr and an exit code: 2 bad input, 1 failed, 130 Ctrl-C.

    A terminating signal raises only while the command runs (before and after, `exit_interrupted`
    ends the process at once), and wins over whatever else happened: an interrupt that a library
    swallowed or turned into another error still ends the command as interrupted."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .outputs import INTERRUPTED, interrupted_code, interruptible, received_signal

        try:
            with interruptible():
                result = command(*args, **kwargs)
            if received_signal() is None:
                return result
            raise _fail(INTERRUPTED, interrupted_code(received_signal() or 0))
        except typer.Exit:
            raise
        except BaseException as exc:
            _show_traceback()
            if received_signal() is not None or isinstance(exc, KeyboardInterrupt):
                signum = received_signal() or (exc.signum if isinstance(exc, Interrupted) else 2)
                raise _fail(INTERRUPTED, interrupted_code(signum)) from None
            if isinstance(exc, ShrinkvisError):
                raise _fail(str(exc), exc.exit_code) from None
            if isinstance(exc, MemoryError):
                raise _fail("out of memory; try fewer clusters, rows, frames or pixels", 1) from None
            if isinstance(exc, Exception):
                raise _fail(f"{unexpected(exc)} (run with --debug for the traceback)", 1) from None
            raise

    return wrapper  # type: ignore[return-value]


def _overrides(sets: list[str] | None, formats: str | None, engine: str | None = None) -> list[str]:
    overrides = list(sets or [])
    if formats:
        overrides.append(f"animation.formats={formats}")
    if engine:
        overrides.append(f"model.engine={engine}")
    return overrides


def _scenario_or_data(
    scenario: str | None, overrides: list[str], data: Path | None, **columns: str | None
) -> Any:
    """The scenario a command works on: a name or YAML file, or a table given with --data."""
    from . import scenario as scenarios
    from .errors import UserError

    given = [f"--{name}" for name, value in columns.items() if value is not None]
    if data is None:
        if scenario is None:
            raise UserError("give a scenario (a built-in name or a YAML file) or --data FILE with its columns")
        if given:
            raise UserError(f"{', '.join(given)}: only with --data FILE, not with a scenario")
        return scenarios.load(scenario, overrides)
    if scenario is not None:
        raise UserError(f"give either the scenario {scenario!r} or --data {data}, not both")
    return scenarios.for_data(data, overrides=overrides, **columns)


@contextlib.contextmanager
def _drawing_process() -> Any:
    """A drawing process beside this one where a fork is safe (see `shrinkvis.drawing`), else None."""
    from . import drawing

    if not drawing.can_fork():
        yield None
        return
    with drawing.DrawingProcess() as process:
        yield process


@app.command()
@user_errors
def run(
    scenario: Annotated[
        str | None, typer.Argument(help="A built-in scenario name or a path to a YAML file (or use --data).")
    ] = None,
    out: OutOption = Path("out"),
    format: FormatOption = None,
    set: SetOption = None,
    data: DataOption = None,
    y: YOption = None,
    group: GroupOption = None,
    x: XOption = None,
    random: RandomOption = None,
    formula: FormulaOption = None,
    title: TitleOption = None,
    view: ViewOption = None,
    preset: PresetOption = None,
    theme: ThemeOption = None,
    engine: EngineOption = None,
) -> None:
    """Render one scenario, or your own data: GIF, MP4, PNG stills, SVG, estimates.csv, summary.json and
    report.md.

    Example: shrinkvis run baseline --view stages --preset slide --set data.sd_int=1

    Example: shrinkvis run --data sleep.csv --formula "Reaction ~ Days + (Days | Subject)"
    """
    with _drawing_process() as drawing:  # started first: it loads matplotlib while this process fits
        from . import pipeline, progress

        loaded = _scenario_or_data(
            scenario,
            [*_look_overrides(view, preset, theme), *_overrides(set, format, engine)],
            data,
            y=y,
            group=group,
            x=x,
            random=random,
            formula=formula,
            title=title,
        )
        with progress.stages() as stage:
            result = pipeline.run(loaded, out, drawing=drawing, stage=stage)
    for warning in result.estimates.warnings:
        typer.echo(f"shrinkvis: warning: {warning}", err=True)
    typer.echo(
        f"{loaded.name}: wrote {', '.join(sorted(p.name for p in result.files.values()))} in {result.out_dir}"
    )


@app.command()
@user_errors
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
    failures = [(outcome.name, outcome.error or "") for outcome in outcomes if outcome.failed]
    typer.echo(f"rendered {len(names) - len(failures)} of {len(names)} scenarios into {out}")
    _write_gallery(out, failures)
    if failures:
        for name, reason in failures:
            typer.echo(f"failed: {name}: {reason}", err=True)
        raise typer.Exit(1)


@app.command("fit")
@user_errors
def fit_command(
    data: Annotated[Path, typer.Option("--data", help="CSV, TSV or Parquet: a file, a glob or a directory.")],
    y: Annotated[str, typer.Option("--y", help="Column of the outcome.")],
    group: Annotated[str, typer.Option("--group", help="Column of the cluster labels (text or numbers).")],
    x: Annotated[str | None, typer.Option("--x", help="Column of the predictor (omit for y ~ 1 + (1 | group)).")] = None,
    random: Annotated[str, typer.Option("--random", help="slope: (x | group); intercept: (1 | group).")] = "slope",
    method: Annotated[str, typer.Option("--method", help="REML or ML.")] = "REML",
    engine: Annotated[str, typer.Option("--engine", help="exact (default), statsmodels or bayes.")] = "exact",
    json_output: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")] = False,
    estimates_file: Annotated[
        Path | None, typer.Option("--estimates", help="Write the per-cluster table to this CSV.")
    ] = None,
) -> None:
    """Fit a mixed model to your own data and print an lme4-like summary.

    Example: shrinkvis fit --data sleep.csv --y Reaction --x Days --group Subject
    """
    import json
    import time

    from . import progress, report
    from .outputs import write_csv
    from .pipeline import fit_model, read_data, reading_stage
    from .scenario import DataFileSpec, from_mapping

    started = time.perf_counter()
    model = from_mapping(
        {"model": {"random": "intercept" if x is None else random, "method": method, "engine": engine}},
        source="command line",
    ).model
    with progress.stages() as stage:
        stage(reading_stage(str(data)))
        rows = read_data(DataFileSpec(file=str(data), y=y, group=group, x=x), stage)
        stage("fitting")
        estimates = fit_model(rows, model)
    seconds = time.perf_counter() - started
    if estimates_file is not None:
        write_csv(estimates_file, estimates.clusters[estimates.table_columns])
    for warning in estimates.warnings:
        typer.echo(f"shrinkvis: warning: {warning}", err=True)
    if json_output:
        typer.echo(json.dumps(report.fit_json(estimates, rows, seconds)))
    else:
        typer.echo(report.lme4_summary(estimates, rows))
def _write_gallery(out: Path, failures: list[tuple[str, str]]) -> None:
    """After a batch: the gallery page of everything under `out`; a failure joins the batch's failures."""
    from . import gallery

    if not out.is_dir() or not gallery.scenario_folders(out):  # nothing rendered, nothing to show
        return
    try:
        typer.echo(f"gallery: {gallery.write(out)}")
    except ShrinkvisError as exc:
        failures.append(("gallery", str(exc)))


@app.command()
@user_errors
def gallery(
    outdir: Annotated[Path, typer.Argument(help="An output root holding one folder per scenario.")],
) -> None:
    """Rebuild OUTDIR/index.html, one card per scenario, from the outputs already on disk.

    Example: shrinkvis gallery out/
    """
    from . import gallery as galleries

    typer.echo(f"wrote {galleries.write(outdir)}")


@app.command()
@user_errors
def explain(
    scenario: Annotated[
        str | None, typer.Argument(help="A built-in scenario name or a path to a YAML file (or use --data).")
    ] = None,
    set: SetOption = None,
    data: DataOption = None,
    y: YOption = None,
    group: GroupOption = None,
    x: XOption = None,
    random: RandomOption = None,
    formula: FormulaOption = None,
    title: TitleOption = None,
    engine: EngineOption = None,
) -> None:
    """Print the numbers behind the picture (model summary, pooling comparison, shrinkage); renders nothing.

    Example: shrinkvis explain --data sleep.csv --y Reaction --x Days --group Subject
    """
    from rich.console import Console

    from . import pipeline
    from . import report as reports

    loaded = _scenario_or_data(
        scenario, _overrides(set, None, engine), data, y=y, group=group, x=x, random=random, formula=formula, title=title
    )
    reports.show(pipeline.explain(loaded), Console(soft_wrap=False))


@app.command("list")
@user_errors
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


@app.command()
@user_errors
def schema() -> None:
    """Print the JSON Schema of scenario files, for editors that validate and complete YAML.

    Example: shrinkvis schema > scenario.schema.json
    """
    import json

    from . import scenario as scenarios

    typer.echo(json.dumps(scenarios.json_schema(), indent=2))


def _one_line_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> str:
    return f"shrinkvis: warning: {' '.join(str(message).split())} ({category.__name__})\n"


def main() -> None:
    """The console command. Once the command is done, the process ends at once: tearing down the
    modules a run loaded (pandas, statsmodels, matplotlib) takes another 0.3–0.5 s that nobody needs."""
    import warnings

    from .outputs import exit_interrupted, interrupts_raise

    warnings.formatwarning = _one_line_warning  # a library's warning is one line, not a source excerpt
    try:
        # SIGTERM would otherwise end the process without running cleanup, leaving temporary files
        with interrupts_raise(at_once=exit_interrupted):
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
