"""`python -m shrinkvis` and the `shrinkvis` command: the signal handlers first, then the CLI.

Importing the CLI (typer, click) takes 0.1–0.3 s; a Ctrl-C or SIGTERM in that time ends the command
with one line and the right exit code, not a traceback. SIGUSR1 prints the Python stack of every thread
to stderr and the run goes on (for reporting a run that seems stuck).
"""


def main() -> None:
    import faulthandler
    import signal

    from .outputs import exit_interrupted, interrupts_raise  # standard library only

    # `kill -USR1 PID` prints where every thread of a stuck run is, and the run goes on; a forked drawing
    # process inherits it. Without a usable stderr (closed: `2>&-`) there is nowhere to print: skipped.
    if hasattr(signal, "SIGUSR1"):
        try:
            faulthandler.register(signal.SIGUSR1, all_threads=True)
        except (AttributeError, OSError, RuntimeError, ValueError):
            pass

    with interrupts_raise(at_once=exit_interrupted):
        from .cli import main as run_command

        run_command()  # ends the process


if __name__ == "__main__":  # batch workers (spawn) import this module again: they must not run the CLI
    main()
