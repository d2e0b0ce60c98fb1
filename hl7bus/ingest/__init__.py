"""Ingest: what the bus stores for one received message (pure records), and the delivery
sequence every connector shares (raw record, then events or a dead letter, then the ACK)."""
