"""Decision snapshots for checks in the caller's process (docs/local-checker.md).

What CheckTransfer and CheckProcessing read, as of one revision, and the
changes after it: :mod:`registry.decisions.feed` selects and plans,
:mod:`registry.decisions.servicer` translates to protobuf and streams.
"""
