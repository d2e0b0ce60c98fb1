"""MLLP: framing as a byte state machine and ACKs, with no I/O; and the one MLLP client
(``client``), the only module here with a socket."""
