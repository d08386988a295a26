"""CLI sub-commands, one module each. Every module defines ``register(subparsers)`` which adds its
sub-parser and sets ``func=<callable(args) -> int>``; :mod:`vidxai.cli` discovers them."""
