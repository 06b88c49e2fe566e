"""Command-line adapters: parse arguments, call a service, render output."""
