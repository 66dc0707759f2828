"""The package version, in a module of its own: adapters and the CLI read it without importing the package's
public facade (`gcevents/__init__.py`), which sits above them."""

__version__ = "0.1.0"
