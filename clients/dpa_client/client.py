"""``RegistryClient``: the typed facade over the registry's gRPC services."""

from __future__ import annotations

from dpa_client._audit import AuditMixin
from dpa_client._controllers import ControllersMixin


class RegistryClient(ControllersMixin, AuditMixin):
    """One client for every role; the server decides what the caller may do.

    >>> client = RegistryClient("localhost:50051", ca="certs/ca.crt",
    ...                         cert="certs/staff-admin.crt", key="certs/staff-admin.key")
    """
