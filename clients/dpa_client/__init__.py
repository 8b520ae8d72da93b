"""Python client for the 7plus.one DPA registry (GDPR Art. 28), over mutual TLS."""

from dpa_client._base import AuditReceipt
from dpa_client.client import RegistryClient

__all__ = ["AuditReceipt", "RegistryClient"]
