"""Operating the registry: Prometheus metrics, OpenTelemetry traces and one
structured request-log line per RPC, all from one server interceptor
(``registry.observability.interceptor``). Each is off unless switched on;
none of them ever records request contents (personal data).
"""
