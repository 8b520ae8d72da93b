"""The request log: one line per RPC on the ``registry.requests`` logger, and
the log formats of the ``dpa-registry`` entry point (``--log-format``).

A line carries the method, status, duration, caller role and tenant, and a
request id; never request contents. A client-chosen request id is logged
as given only when it is a plain token, else as a digest of it, so an id that
embeds personal data (an e-mail address, say) never reaches the log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

LOGGER = "registry.requests"
FORMATS = ("text", "json")

_TOKEN = re.compile(r"[A-Za-z0-9._:+=-]{1,128}")


def safe_request_id(raw: str) -> str:
    if _TOKEN.fullmatch(raw):
        return raw
    return "sha256:" + hashlib.sha256(raw.encode()).hexdigest()[:16]


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a request-log record's fields at top level."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        else:
            out["message"] = record.getMessage()
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, separators=(",", ":"), default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(level: str, fmt: str) -> None:
    """Configures the root logger; only the entry point calls this."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
