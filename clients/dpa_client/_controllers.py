"""Controller (tenant) records."""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf import field_mask_pb2

from dpa_client._base import BaseClient, new_request_id
from dpa_client.types.controllers import Controller
from dpa_registry_api.v1 import controllers_pb2 as pb
from dpa_registry_api.v1 import controllers_pb2_grpc as pb_grpc


class ControllersMixin(BaseClient):
    @property
    def _controllers(self) -> pb_grpc.ControllerServiceStub:
        return pb_grpc.ControllerServiceStub(self.channel)

    def create_controller(
        self,
        controller_id: str,
        *,
        legal_name: str,
        country: str,
        contact_email: str,
        dpo_email: str,
        notify_emails: tuple[str, ...] = (),
        time_zone: str = "",
        request_id: str | None = None,
    ) -> Controller:
        """Staff: registers an enterprise client. Safe to retry (request_id)."""
        request = pb.CreateControllerRequest(
            controller=pb.Controller(
                controller_id=controller_id,
                legal_name=legal_name,
                country=country,
                contact_email=contact_email,
                dpo_email=dpo_email,
                notification_preferences=pb.NotificationPreferences(
                    emails=list(notify_emails), time_zone=time_zone
                ),
            ),
            request_id=request_id or new_request_id(),
        )
        return Controller.from_proto(
            self._call(self._controllers.CreateController, request, idempotent=True)
        )

    def get_controller(self, controller_id: str) -> Controller:
        request = pb.GetControllerRequest(name=f"controllers/{controller_id}")
        return Controller.from_proto(
            self._call(self._controllers.GetController, request, idempotent=True)
        )

    def list_controllers(self, *, page_size: int = 100) -> Iterator[Controller]:
        """Every controller the caller may see, fetched page by page."""
        token = ""
        while True:
            page: pb.ListControllersResponse = self._call(
                self._controllers.ListControllers,
                pb.ListControllersRequest(page_size=page_size, page_token=token),
                idempotent=True,
            )
            yield from (Controller.from_proto(c) for c in page.controllers)
            token = page.next_page_token
            if not token:
                return

    def update_controller(
        self,
        controller_id: str,
        *,
        etag: str = "",
        legal_name: str | None = None,
        country: str | None = None,
        contact_email: str | None = None,
        dpo_email: str | None = None,
        notify_emails: tuple[str, ...] | None = None,
        time_zone: str | None = None,
        request_id: str | None = None,
    ) -> Controller:
        """Changes the given fields only. A stale ``etag`` raises Conflict."""
        msg = pb.Controller(name=f"controllers/{controller_id}", etag=etag)
        paths: list[str] = []
        for field, value in (
            ("legal_name", legal_name),
            ("country", country),
            ("contact_email", contact_email),
            ("dpo_email", dpo_email),
        ):
            if value is not None:
                setattr(msg, field, value)
                paths.append(field)
        if notify_emails is not None:
            msg.notification_preferences.emails.extend(notify_emails)
            paths.append("notification_preferences.emails")
        if time_zone is not None:
            msg.notification_preferences.time_zone = time_zone
            paths.append("notification_preferences.time_zone")
        request = pb.UpdateControllerRequest(
            controller=msg,
            update_mask=field_mask_pb2.FieldMask(paths=paths),
            request_id=request_id or new_request_id(),
        )
        return Controller.from_proto(
            self._call(self._controllers.UpdateController, request, idempotent=True)
        )
