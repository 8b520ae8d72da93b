"""The record of processing activities a processor keeps (GDPR Art. 30(2)),
generated from the registry's live data as of a revision of its audit log."""
