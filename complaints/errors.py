"""What a user's mistake looks like on the command line: one line saying what is wrong and what to
do, never a traceback.

``explain`` turns the exceptions the stages define for problems a user can fix (an unreachable
AWS endpoint, a lake that cannot be written, a missing warehouse, a broken rules file, ...) into
that line; ``complaints.cli.main`` prints it and exits non-zero. Anything else is a bug and keeps
its traceback. The command line raises ``CliError`` for what it finds wrong itself (nothing to
transform, a lake that does not exist).

Exception classes are looked up in ``sys.modules``, not imported: an exception can only be an
instance of a class whose module was loaded, and the command line never imports Spark, DuckDB
or botocore just to explain an error.
"""

from __future__ import annotations

import difflib
import errno
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from common.settings import Settings

USAGE = 2  # exit code of a usage error, as argparse uses
EMULATOR_HINT = ("start the local emulator (`complaints emulator start`) and set "
                 "COMPLAINTS_AWS_ENDPOINT_URL to the URL it prints")
# OSError numbers that mean "the lake cannot be written here", whatever the command.
_UNWRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR}


class CliError(Exception):
    """A mistake the user can fix; the message says what is wrong and what to do."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def did_you_mean(value: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or ``""`` when none is close."""
    close = difflib.get_close_matches(value, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


# ------------------------------------------------------------------------------------------------
# One line per known exception type
# ------------------------------------------------------------------------------------------------

Explainer = Callable[[BaseException, Settings], "str | None"]


@dataclass(frozen=True)
class _Known:
    module: str
    name: str
    explain: Explainer  # None: not this case after all (keep looking, else a real bug)


def _as_is(exc: BaseException, settings: Settings) -> str:
    return str(exc)


def _no_credentials(exc: BaseException, settings: Settings) -> str:
    return (f"no AWS credentials and no emulator configured: {EMULATOR_HINT}, or configure AWS "
            "credentials to use real AWS")


def _no_connection(exc: BaseException, settings: Settings) -> str:
    kwargs = getattr(exc, "kwargs", {})
    url = kwargs.get("endpoint_url") or settings.aws_endpoint_url or "AWS"
    return (f"cannot connect to {url}: {EMULATOR_HINT}, or point COMPLAINTS_AWS_ENDPOINT_URL at a "
            "running one")


def _not_aws(exc: BaseException, settings: Settings) -> str:
    kwargs = getattr(exc, "kwargs", {})
    url = kwargs.get("endpoint_url") or settings.aws_endpoint_url or "AWS"
    return (f"{url} did not answer as AWS does ({type(exc).__name__}): check that "
            "COMPLAINTS_AWS_ENDPOINT_URL is the URL of a running emulator (`complaints emulator "
            "start` prints it)")


def _no_profile(exc: BaseException, settings: Settings) -> str:
    return f"{exc}: check AWS_PROFILE, or {EMULATOR_HINT}"


def _aws_refused(exc: BaseException, settings: Settings) -> str:
    response = getattr(exc, "response", {}) or {}
    error = response.get("Error", {})
    code = error.get("Code", "an error")
    line = (f"AWS answered {code} to {getattr(exc, 'operation_name', 'a call')}: "
            f"{error.get('Message', '')}".rstrip(": "))
    if code in ("ResourceNotFoundException", "NoSuchBucket"):
        line += ("; create the sample tables with `complaints generate` (a stream: "
                 "`complaints produce --source SOURCE`), or check the "
                 "COMPLAINTS_TABLE_* / COMPLAINTS_STREAM_* names")
    return line


def _query(exc: BaseException, settings: Settings) -> str:
    """DuckDB's message on one line, then (the one exception) its ``LINE 1: ...`` block with the
    ``^^^`` marker under the part of the query it is about: that is what the user edits."""
    message, marker, position = str(exc).partition("\n\nLINE ")
    return _one_line(message) + (f"\nLINE {position}" if marker else "")


def _no_warehouse(exc: BaseException, settings: Settings) -> str:
    if getattr(exc, "lake_exists", True):
        fix = "build it with `complaints refresh` (or the whole pipeline with `make demo`)"
    else:
        fix = "check COMPLAINTS_LAKE, or build a lake with `make demo`"
    return f"{exc}; {fix}"


def _rules(exc: BaseException, settings: Settings) -> str:
    return f"{exc}; fix the rules file, or point COMPLAINTS_RULES at a valid one"


def _export(exc: BaseException, settings: Settings) -> str:
    return f"{exc}; nothing was landed"


def _unwritable(exc: BaseException, settings: Settings) -> str | None:
    if not isinstance(exc, OSError) or exc.errno not in _UNWRITABLE:
        return None
    where = exc.filename or settings.lake
    if exc.errno == errno.ENOTDIR:
        fix = f"point COMPLAINTS_LAKE at a folder (now {settings.lake})"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "free some space, or point COMPLAINTS_LAKE at another disk"
    else:
        fix = (f"give this user write access to it, or point COMPLAINTS_LAKE at a folder you can "
               f"write (now {settings.lake})")
    return f"{(exc.strerror or 'cannot write').lower()}: {where}; {fix}"


def _no_java(exc: BaseException, settings: Settings) -> str | None:
    condition = getattr(exc, "getCondition", getattr(exc, "getErrorClass", lambda: None))()
    if condition != "JAVA_GATEWAY_EXITED":
        return None
    return "Spark could not start Java: install Java 17 and put it on PATH (or set JAVA_HOME)"


def _interrupted(exc: BaseException, settings: Settings) -> str:
    return "interrupted"


# Most specific first: the first class that matches (and whose explainer answers) wins.
KNOWN: tuple[_Known, ...] = (
    _Known(__name__, "CliError", _as_is),
    _Known("common.aws", "AwsUnreachable", _as_is),
    _Known("botocore.exceptions", "NoCredentialsError", _no_credentials),
    _Known("botocore.exceptions", "ProfileNotFound", _no_profile),
    _Known("botocore.exceptions", "EndpointConnectionError", _no_connection),
    _Known("botocore.exceptions", "ConnectTimeoutError", _no_connection),
    _Known("botocore.exceptions", "ConnectionClosedError", _not_aws),
    _Known("botocore.exceptions", "ReadTimeoutError", _not_aws),
    _Known("botocore.exceptions", "ClientError", _aws_refused),
    _Known("warehouse.duckdb_warehouse", "WarehouseMissing", _no_warehouse),
    _Known("warehouse.duckdb_warehouse", "WarehouseQueryError", _query),
    _Known("warehouse.duckdb_warehouse", "WarehouseError", _as_is),
    _Known("jobs.classify", "RulesError", _rules),
    _Known("jobs.classify_eval", "LabelsError", _as_is),
    _Known("jobs.landing", "ExportVerificationError", _export),
    _Known("jobs.landing", "ExportFailedError", _export),
    _Known("streaming.leases", "LeaseTableOfAnotherStream", _as_is),
    _Known("jobs.ledger", "BackfillBlocked", _as_is),
    _Known("builtins", "OSError", _unwritable),
    _Known("pyspark.errors.exceptions.base", "PySparkRuntimeError", _no_java),
    _Known("builtins", "KeyboardInterrupt", _interrupted),
)


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _loaded_class(module: str, name: str) -> type[BaseException] | None:
    found = getattr(sys.modules.get(module), name, None)
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


def explain(exc: BaseException, settings: Settings) -> str | None:
    """The one line that tells the user what is wrong and what to do, or None for a bug."""
    for known in KNOWN:
        cls = _loaded_class(known.module, known.name)
        if cls is not None and isinstance(exc, cls):
            line = known.explain(exc, settings)
            if line is not None:
                return line if known.explain is _query else _one_line(line)
    return None


def exit_code(exc: BaseException) -> int:
    if isinstance(exc, CliError):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return 130  # 128 + SIGINT, as shells report it
    return 1
