"""Operating the server: metrics over HTTP, spans, request-log lines,
reflection v1 and v1alpha, Health/List, and the CLI's config and version."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from dpa_client import errors
from registry import clock, config, pki, server
from registry.observability import requestlog
from tests import factories, harness
from tests.harness import Harness

CREATE = "/dpa.registry.v1.ControllerService/CreateController"
GET = "/dpa.registry.v1.ControllerService/GetController"


@pytest.fixture
def observed(
    dev_pki: pki.DevPki, database_url: str
) -> Iterator[tuple[Harness, InMemorySpanExporter]]:
    spans = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(spans))
    cfg = replace(harness.server_config(dev_pki, database_url), metrics_port=harness.free_port())
    h = Harness(dev_pki, server.start(cfg, tracer_provider=provider), database_url)
    try:
        yield h, spans
    finally:
        h.close()
        provider.shutdown()
        clock.reset()


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        body: bytes = response.read()
    return body.decode()


def test_metrics_are_scraped_over_http(observed: tuple[Harness, InMemorySpanExporter]) -> None:
    h, _ = observed
    staff = h.staff
    factories.controller(staff, "acme")
    staff.get_controller("acme")
    staff.get_controller("acme")
    with pytest.raises(errors.NotFound):
        staff.get_controller("nobody")
    text = _scrape(h.running.metrics_port)
    labels = 'grpc_method="GetController",grpc_service="dpa.registry.v1.ControllerService"'
    assert f'grpc_server_handled_total{{grpc_code="OK",{labels},grpc_type="unary"}} 2.0' in text
    assert (
        f'grpc_server_handled_total{{grpc_code="NOT_FOUND",{labels},grpc_type="unary"}} 1.0' in text
    )
    assert f'grpc_server_handling_seconds_count{{{labels},grpc_type="unary"}} 3.0' in text
    assert 'grpc_method="CreateController"' in text
    assert "dpa_notification_watchers 0.0" in text
    entries = next(line for line in text.splitlines() if line.startswith("dpa_audit_log_entries "))
    assert float(entries.split()[1]) >= 1
    assert "dpa_audit_checkpoint_age_seconds " in text  # the key record is signed at start
    assert "dpa_notifications_unacknowledged 0.0" in text
    assert "dpa_breach_obligations_overdue 0.0" in text
    assert "dpa_transfer_decision_p99_seconds " in text
    assert "privacy@acme.example" not in text


def test_metrics_are_off_by_default(registry: Harness) -> None:
    assert registry.running.metrics_port == 0


def test_a_mutation_has_rpc_database_and_log_spans(
    observed: tuple[Harness, InMemorySpanExporter],
) -> None:
    h, spans = observed
    factories.controller(h.staff, "acme")
    finished = {s.name: s for s in spans.get_finished_spans()}
    rpc = finished["dpa.registry.v1.ControllerService/CreateController"]
    write = finished["db.transaction"]
    append = finished["audit.append"]
    assert write.parent is not None and write.parent.span_id == rpc.context.span_id
    assert append.parent is not None and append.parent.span_id == write.context.span_id
    assert rpc.attributes is not None
    assert rpc.attributes["rpc.grpc.status_code"] == 0
    assert rpc.attributes["dpa.caller.role"] == "staff"
    spans.clear()
    with pytest.raises(errors.InvalidArgument):
        factories.controller(h.staff, "acme", country="XX")
    failed = {s.name: s for s in spans.get_finished_spans()}
    assert not failed["dpa.registry.v1.ControllerService/CreateController"].status.is_ok


def test_one_request_log_line_per_rpc_without_personal_data(
    observed: tuple[Harness, InMemorySpanExporter], caplog: pytest.LogCaptureFixture
) -> None:
    h, _ = observed
    caplog.set_level(logging.INFO, logger=requestlog.LOGGER)
    factories.controller(h.staff, "acme")
    acme = h.client("controller", "acme")
    with pytest.raises(errors.NotFound):
        acme.get_controller("globex")
    records = [r for r in caplog.records if r.name == requestlog.LOGGER]
    assert len(records) == 2
    lines = [json.loads(requestlog.JsonFormatter().format(r)) for r in records]
    created, denied = lines
    assert created["method"] == CREATE
    assert created["status"] == "OK"
    assert created["role"] == "staff"
    assert created["tenant"] is None
    assert created["request_id"]
    assert isinstance(created["duration_ms"], float)
    assert denied == {**denied, "method": GET, "status": "NOT_FOUND", "tenant": "acme"}
    text = "\n".join(json.dumps(line) for line in lines)
    for personal in ("privacy@acme.example", "dpo@acme.example", "Acme AS"):
        assert personal not in text


def test_request_ids_that_are_not_plain_tokens_are_digested() -> None:
    assert requestlog.safe_request_id("3f1c-retry:2") == "3f1c-retry:2"
    digested = requestlog.safe_request_id("jane.doe@example.com")
    assert digested.startswith("sha256:")
    assert "jane" not in digested


def _reflect_v1(
    channel: grpc.Channel, request: reflection_pb2.ServerReflectionRequest
) -> reflection_pb2.ServerReflectionResponse:
    call = channel.stream_stream(
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    return next(iter(call(iter([request]), timeout=10)))


def test_reflection_v1_and_v1alpha(registry: Harness) -> None:
    channel = registry.staff.channel
    alpha = ProtoReflectionDescriptorDatabase(channel)
    services = set(alpha.get_services())
    assert {
        "dpa.registry.v1.ControllerService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    } <= services
    listed = _reflect_v1(channel, reflection_pb2.ServerReflectionRequest(list_services=""))
    assert {s.name for s in listed.list_services_response.service} == services
    details = _reflect_v1(
        channel,
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="google.rpc.BadRequest"),
    )
    assert details.file_descriptor_response.file_descriptor_proto
    assert alpha.FindFileContainingSymbol("google.rpc.BadRequest").name == (
        error_details_pb2.DESCRIPTOR.name
    )


def test_health_list(registry: Harness) -> None:
    stub = health_pb2_grpc.HealthStub(registry.staff.channel)
    listed = stub.List(health_pb2.HealthListRequest(), timeout=5)
    assert listed.statuses[""].status == health_pb2.HealthCheckResponse.SERVING
    assert (
        listed.statuses["dpa.registry.v1.ControllerService"].status
        == health_pb2.HealthCheckResponse.SERVING
    )


def test_version_flags() -> None:
    for module in ("registry.cli", "dpa_client.cli"):
        out = subprocess.run(
            [sys.executable, "-m", module, "--version"], check=True, capture_output=True, text=True
        ).stdout
        assert out.split()[1] == config.version() or out.split()[1][0].isdigit()


def _args(*argv: str) -> config.Config:
    from registry import cli

    return config.from_arguments(cli.parser().parse_args(["serve", *argv]), environ={})


def test_toml_config_file_and_precedence(tmp_path: Path) -> None:
    path = tmp_path / "registry.toml"
    path.write_text("workers = 8\nmax-watchers = 50\nmetrics_port = 9464\ntracing = true\n")
    assert _args("--config", str(path)) == replace(
        config.Config(), workers=8, max_watchers=50, metrics_port=9464, tracing=True
    )
    assert _args("--config", str(path), "--workers", "4").workers == 4
    from registry import cli

    args = cli.parser().parse_args(["serve", "--config", str(path)])
    assert config.from_arguments(args, environ={"DPA_WORKERS": "2"}).workers == 2


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("wrokers = 8\n", "wrokers"),
        ('workers = "8"\n', "workers"),
        ("tracing = 1\n", "tracing"),
        ("workers = \n", "--config"),
    ],
)
def test_bad_config_file_names_the_setting(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "registry.toml"
    path.write_text(text)
    with pytest.raises(config.InvalidArgument) as err:
        _args("--config", str(path))
    assert err.value.violations[0].field.endswith(field)


def test_bad_config_file_from_the_cli_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "registry.toml"
    path.write_text("wrokers = 8\n")
    run = subprocess.run(
        [sys.executable, "-m", "registry.cli", "serve", "--config", str(path)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert "wrokers: unknown setting" in run.stderr
    assert "Traceback" not in run.stderr


def test_every_serve_flag_has_help_env_and_default() -> None:
    text = subprocess.run(
        [sys.executable, "-m", "registry.cli", "serve", "--help"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    flat = " ".join(text.split())
    for option in config.OPTIONS:
        assert f" {option.flag}" in flat
        assert f"[env {option.env}; default {getattr(config.Config(), option.field)}]" in flat


def test_tracing_is_configured_by_the_otel_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from registry.observability import tracing

    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    provider = tracing.provider_from_env("1.2.3")
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "dpa-registry"
    provider.shutdown()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(config.InvalidArgument) as err:
        tracing.provider_from_env("1.2.3")
    assert err.value.violations[0].field == "OTEL_TRACES_EXPORTER"
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert tracing.provider_from_env("1.2.3") is None
