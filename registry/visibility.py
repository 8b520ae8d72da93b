"""What a caller may see: the one visibility rule for resources and the log.

A controller sees its own resources (``Caller.sees``) and, of the
processor-wide ones, only those that concern it: a sub-processor engaged for
it or named in a change notice it received
(``registry.subprocessors.core.visible_to_controller``), a change notice it
received, and the log's own key events. The processor side sees everything.
The audit-log view (``ListEntries``, inclusion proofs) filters processor-wide
entries through :func:`visible_resources`, so a controller's log view and its
resource view agree on every sub-processor.
"""

from __future__ import annotations

from collections.abc import Collection

from registry import names
from registry.auth import Caller
from registry.subprocessors import core as subprocessors
from registry.subprocessors import notices

PUBLIC_COLLECTIONS = frozenset({"log", "measures"})
"""Processor-wide resources every controller may see: the log's own keys and
the technical and organisational measures (Art. 28(3)(c))."""


def visible_resources(caller: Caller, resources: Collection[str]) -> set[str]:
    """The processor-wide resource names of ``resources`` the caller may see."""
    controller_id = caller.tenant
    if controller_id is None:
        return set(resources)
    shown: set[str] = set()
    for resource in resources:
        collection, ident = names.split_first(resource)
        seen = collection in PUBLIC_COLLECTIONS or (
            bool(ident)
            and (
                (
                    collection == subprocessors.COLLECTION
                    and subprocessors.visible_to_controller(controller_id, ident)
                )
                or (collection == notices.COLLECTION and notices.received(controller_id, ident))
            )
        )
        if seen:
            shown.add(resource)
    return shown
