"""MLLP without sockets of its own: framing as a byte state machine, and ACKs."""
