"""What a committed change touches: each domain publishes it for its own
resources, so derived views (the transfer snapshot) never parse another
domain's audit actions or read its tables to find out.

Every audit event names a resource (``collection/{id}[/sub/{id}...]``) and a
tenant. A domain registers, for the resource kinds it owns (the collection
path without ids, e.g. ``controllers.agreements``), a reader that adds what a
change to such a resource touches: controllers, sub-processors, the transfer
reference data, or nothing. A kind nobody published touches everything
(the safe answer): a view rebuilds in full.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class Touched:
    controllers: set[str] = field(default_factory=set)
    subprocessors: set[str] = field(default_factory=set)
    reference: bool = False
    measures: bool = False
    """The technical and organisational measures (processor-wide)."""
    processor: bool = False
    """The processor's own details (its DPO, its representative)."""
    everything: bool = False


Reader = Callable[[Touched, str | None, list[str]], None]
"""(what is touched so far, the event's tenant, the resource's ids in path order)"""

_READERS: dict[str, Reader] = {}
_SINGLETONS: dict[str, Reader] = {}
"""Readers of every resource under a singleton collection (``log/...``)."""

# The modules that publish; imported on first use so that every reader is
# registered whichever of them the process has loaded.
_PUBLISHERS = (
    "registry.controllers.core",
    "registry.agreements.terms",
    "registry.breaches.core",
    "registry.notifications.core",
    "registry.subprocessors.changes",
    "registry.tasks.core",
    "registry.transfers.store",
    "registry.transfers.adequacy",
    "registry.audit.log",
    "registry.measures.core",
    "registry.records.processor",
    "registry.delivery.subscriptions",
)
_loaded = False


def publishes(*kinds: str) -> Callable[[Reader], Reader]:
    """Registers a reader for resource kinds such as ``"controllers.agreements"``."""

    def register(reader: Reader) -> Reader:
        for kind in kinds:
            if kind in _READERS:
                raise RuntimeError(f"resource kind {kind!r} published twice")
            _READERS[kind] = reader
        return reader

    return register


def publishes_all_under(singleton: str) -> Callable[[Reader], Reader]:
    """Registers a reader for every resource under ``{singleton}/``."""

    def register(reader: Reader) -> Reader:
        _SINGLETONS[singleton] = reader
        return reader

    return register


def ignore(touched: Touched, tenant: str | None, ids: list[str]) -> None:
    """A reader for resources no derived view depends on."""


def kind_of(resource: str) -> tuple[str, list[str]]:
    """``("controllers.agreements", ["acme", "2"])`` of ``controllers/acme/agreements/2``."""
    parts = resource.split("/")
    return ".".join(parts[0::2]), parts[1::2]


def touched(events: Iterable[tuple[str | None, str]]) -> Touched:
    """What the (tenant, resource) events touch, together."""
    global _loaded  # noqa: PLW0603 - a once-only import of the publishers
    if not _loaded:
        for module in _PUBLISHERS:
            importlib.import_module(module)
        _loaded = True
    result = Touched()
    for tenant, resource in events:
        kind, ids = kind_of(resource)
        reader = _READERS.get(kind) or _SINGLETONS.get(resource.split("/", 1)[0])
        if reader is None:
            log.warning("change feed: nobody publishes resource kind %r; touching everything", kind)
            result.everything = True
            return result
        reader(result, tenant, ids)
        if result.everything:
            return result
    return result
