"""HTTP routes: parse, call a service, render."""
