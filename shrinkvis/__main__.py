"""`python -m shrinkvis` and the `shrinkvis` command: the signal handlers first, then the CLI.

Importing the CLI (typer, click) takes 0.1–0.3 s; a Ctrl-C or SIGTERM in that time ends the command
with one line and the right exit code, not a traceback. SIGUSR1 prints the Python stack of every thread
to stderr and the run goes on (for reporting a run that seems stuck).
"""


def main() -> None:
    from .outputs import exit_interrupted, interrupts_raise, stacks_on_request  # standard library only

    stacks_on_request()  # a forked drawing process inherits it; batch workers call it themselves
    with interrupts_raise(at_once=exit_interrupted):
        from .cli import main as run_command

        run_command()  # ends the process


if __name__ == "__main__":  # batch workers (spawn) import this module again: they must not run the CLI
    main()
