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


_S3_MODULES = ("botocore", "boto3", "aiobotocore", "s3fs")


def one_line(e: BaseException) -> str | None:
    """The one line the CLI prints for an error a user can act on, or None for a bug (whose
    traceback is then shown). Beyond FFDataError: a full disk or a missing permission (OSError,
    with the path), input too deeply nested (RecursionError), text that cannot be encoded
    (UnicodeError), memory running out, and an S3 endpoint that is malformed or unreachable."""
    if isinstance(e, FFDataError):
        return str(e)
    if isinstance(e, RecursionError):
        return "input nested too deeply to process (RecursionError)"
    if isinstance(e, MemoryError):
        return "out of memory (MemoryError): a count or a row too large for this machine?"
    if isinstance(e, UnicodeError):
        return f"text that is not valid Unicode: {e}"
    if _raised_in(e, _S3_MODULES):
        import os

        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        where = f" (AWS_ENDPOINT_URL={endpoint})" if endpoint else ""
        return f"S3: {type(e).__name__}: {_flat(e)}{where}"
    if isinstance(e, OSError):
        path = f"{e.filename}: " if e.filename else ""
        return f"{path}{e.strerror or _flat(e)}" + (f" (errno {e.errno})" if e.errno else "")
    return None


def _flat(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _raised_in(e: BaseException, modules: tuple[str, ...]) -> bool:
    tb = e.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_globals.get("__name__", "")
        if name.split(".")[0] in modules:
            return True
        tb = tb.tb_next
    return False
