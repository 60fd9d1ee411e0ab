"""Command-line interface. Each sub-command lives in its own module exposing
``register(subparsers)``, which adds a parser whose ``func(args) -> int`` runs it."""
