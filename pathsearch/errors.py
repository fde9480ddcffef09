"""User-facing errors: the CLI prints these as one line, never as a traceback."""


class PathsearchError(Exception):
    """A problem with the user's input or environment, with a message that says how to fix it."""


class SlideError(PathsearchError):
    """A slide could not be opened, has bad metadata, or yields no tiles."""
