"""The registry's pure decision code, shared by the server and the client library.

One implementation of ``CheckTransfer`` (GDPR Art. 28 and Art. 44-49) and
``CheckProcessing`` (Art. 28(3)(a)): the server decides with it, and
``dpa_client.LocalChecker`` decides with the very same functions in the
caller's process (docs/adr/0017-shared-decision-code.md). Nothing here does
I/O, reads a clock or imports gRPC, protobuf, the server or the client.

* :mod:`dpa_decisions.common`: the shared legal enums and the Art. 28(2)
  engagement rule.
* :mod:`dpa_decisions.taxonomy`: fideslang key coverage.
* :mod:`dpa_decisions.transfer_types`, :mod:`dpa_decisions.reference`: values.
* :mod:`dpa_decisions.transfer`, :mod:`dpa_decisions.processing`: ``decide``.
* :mod:`dpa_decisions.state`: one decision state (controllers, sub-processors,
  reference data at one revision) and the checks asked of it.
"""
