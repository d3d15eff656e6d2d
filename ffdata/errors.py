"""User-facing errors: one line that names the file, row and field at fault."""


class FFDataError(Exception):
    """An error the user can act on; the CLI prints it as one line and exits non-zero."""


class MalformedRow(FFDataError, ValueError):
    """A source row whose field is missing or of the wrong type (ffdata.layouts).

    Builders quarantine such a row with the reason `malformed:<field>` (see the adapter
    wrappers in ffdata.adapters), or, where the source says `on_malformed: error`, the read
    path stops with `file:line: field 'question' is null`. Raised from a direct adapter call
    it is an FFDataError naming `where`."""

    def __init__(self, field: str, problem: str, where: str = ""):
        self.field, self.problem, self.where = field, problem, where
        super().__init__(f"{where + ': ' if where else ''}field {field!r} {problem}")

    @property
    def reason(self) -> str:
        return f"malformed:{self.field}"
