"""``RegistryClient``: the typed facade over the registry's gRPC services."""

from __future__ import annotations

from dpa_client._agreements import AgreementsMixin
from dpa_client._breaches import BreachesMixin
from dpa_client._controllers import ControllersMixin
from dpa_client._delivery import DeliveryMixin
from dpa_client._measures import MeasuresMixin
from dpa_client._notifications import NotificationsMixin
from dpa_client._records import RecordsMixin
from dpa_client._subprocessors import SubprocessorsMixin
from dpa_client._tasks import TasksMixin
from dpa_client._transfers import TransfersMixin
from dpa_client._witness import WitnessMixin


class RegistryClient(
    BreachesMixin,
    AgreementsMixin,
    ControllersMixin,
    MeasuresMixin,
    DeliveryMixin,
    NotificationsMixin,
    RecordsMixin,
    SubprocessorsMixin,
    TasksMixin,
    TransfersMixin,
    WitnessMixin,
):
    """One client for every role; the server decides what the caller may do.

    >>> client = RegistryClient("localhost:50051", ca="certs/ca.crt",
    ...                         cert="certs/staff-admin.crt", key="certs/staff-admin.key")
    """
