"""Data Processing Agreements (GDPR Art. 28(3), 28(9)) and the controller's
documented instructions (Art. 28(3)(a)).

A controller requests its DPA; staff draft it from the processor's versioned
template (annex structure of Implementing Decision (EU) 2021/915); the
processor signs the RFC 8785 canonical bytes, the controller countersigns them
with the key of its client certificate. Instructions are issued under the
active DPA, and ``CheckProcessing`` decides against both with a pure function.
"""
