"""User-facing errors: one line that names the file, row and field at fault."""


class FFDataError(Exception):
    """An error the user can act on; the CLI prints it as one line and exits non-zero."""
