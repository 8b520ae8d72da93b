"""Long-lived server streams on an event loop instead of a thread each
(docs/adr/0019): ``fanout`` wakes them, ``host`` serves them over gRPC."""
