"""Imports every module that declares tables, so their migrations register."""

from registry import ledger  # noqa: F401
from registry.audit import log, store  # noqa: F401
from registry.controllers import core  # noqa: F401
