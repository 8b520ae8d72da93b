"""Transparency-log core: RFC 9162 Merkle proofs and C2SP signed checkpoints.

Pure code shared by the registry server and the client's offline verifier.
"""

from dpa_client.transparency.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    MemoryNodes,
    NodeReader,
    Row,
    append_batch,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    nodes_for_append,
    root_from_consistency_proof,
    root_from_inclusion_proof,
    root_from_leaves,
    root_hash,
    verify_consistency,
    verify_inclusion,
)
from dpa_client.transparency.note import (
    ALG_ED25519,
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    VerifiedNote,
    key_id,
    open_checkpoint,
    open_note,
    sign_checkpoint,
)

__all__ = [
    "ALG_ED25519",
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Checkpoint",
    "MemoryNodes",
    "NodeReader",
    "NoteSigner",
    "NoteVerifier",
    "Row",
    "VerifiedNote",
    "append_batch",
    "consistency_proof",
    "inclusion_proof",
    "key_id",
    "leaf_hash",
    "node_hash",
    "nodes_for_append",
    "open_checkpoint",
    "open_note",
    "root_from_consistency_proof",
    "root_from_inclusion_proof",
    "root_from_leaves",
    "root_hash",
    "sign_checkpoint",
    "verify_consistency",
    "verify_inclusion",
]
