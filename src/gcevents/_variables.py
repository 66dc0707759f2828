"""Deprecated: the variables table is `gcevents.variables`; this old private name stays so existing imports work."""

from gcevents.variables import *  # noqa: F403  # the table's public names, as before


def __getattr__(name: str) -> object:  # the private names too, from the one module that defines them
    import gcevents.variables

    return getattr(gcevents.variables, name)
