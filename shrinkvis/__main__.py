from .cli import main

if __name__ == "__main__":  # batch workers (spawn) import this module again: they must not run the CLI
    main()
