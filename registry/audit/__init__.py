"""The audit log: every state change of the registry, as canonical bytes.

Three stages, as in transparency logs: *sequence* (a durable, contiguous
index, ``store.append``), *integrate* (extend the Merkle tree) and *publish*
(sign a checkpoint).
"""
