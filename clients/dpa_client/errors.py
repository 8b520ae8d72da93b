"""The client library's one exception root and its subclasses by meaning.

gRPC status codes are mapped to these in one place of the client; offline
verification raises ``VerificationError`` subclasses.
"""

from __future__ import annotations

from dataclasses import dataclass


class DpaError(Exception):
    """Root of every error the client library raises."""


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class RpcError(DpaError):
    """The registry answered with an error status."""

    code_name = "UNKNOWN"

    def __init__(self, message: str, violations: tuple[FieldViolation, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.violations = violations


class InvalidArgument(RpcError):
    code_name = "INVALID_ARGUMENT"


class NotFound(RpcError):
    code_name = "NOT_FOUND"


class AlreadyExists(RpcError):
    code_name = "ALREADY_EXISTS"


class FailedPrecondition(RpcError):
    code_name = "FAILED_PRECONDITION"


class Conflict(RpcError):
    """ABORTED: a stale etag or a concurrent change; re-read and retry."""

    code_name = "ABORTED"


class PermissionDenied(RpcError):
    code_name = "PERMISSION_DENIED"


class Unauthenticated(RpcError):
    code_name = "UNAUTHENTICATED"


class Unavailable(RpcError):
    code_name = "UNAVAILABLE"


class ResourceExhausted(RpcError):
    """A server limit is reached (e.g. its live streams); retry later."""

    code_name = "RESOURCE_EXHAUSTED"


class DeadlineExceeded(RpcError):
    code_name = "DEADLINE_EXCEEDED"


class ServerError(RpcError):
    """INTERNAL or any other unexpected status."""

    code_name = "INTERNAL"


class StaleSnapshot(DpaError):
    """A ``LocalChecker`` refuses to answer: it has not heard from the
    registry within its bound (fails closed; the message says why)."""

    def __init__(self, message: str, revision: int, seconds_silent: float) -> None:
        super().__init__(message)
        self.message = message
        self.revision = revision
        self.seconds_silent = seconds_silent


class DecisionLogBacklog(DpaError):
    """A ``DecisionRecorder`` holds ``max_pending`` records it could not
    write (the message gives the last write error): it records no more, so
    a gateway that records every answer stops answering (fails closed)
    instead of growing without bound."""

    def __init__(self, message: str, pending: int) -> None:
        super().__init__(message)
        self.message = message
        self.pending = pending


class VerificationError(DpaError):
    """Offline verification failed: a signature, proof or document is not valid."""


class BadSignature(VerificationError):
    """A signature does not verify, or is by a key that is not trusted."""


class InclusionError(VerificationError):
    """An entry is not included in the tree the checkpoint commits to."""


class ConsistencyError(VerificationError):
    """Two checkpoints are not consistent: the log was rolled back or forked."""


class TamperedEntry(VerificationError):
    """An entry's bytes do not match the log; ``index`` is the first bad one."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


class TamperedBundle(VerificationError):
    """An evidence pack failed verification; ``part`` names the part."""

    def __init__(self, part: str, message: str) -> None:
        super().__init__(f"{part}: {message}")
        self.part = part


class TamperedDecisionLog(VerificationError):
    """A signed decision log failed verification; ``line`` is the first bad
    line (1-based; 0 when the log as a whole is wrong, e.g. cut short)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
