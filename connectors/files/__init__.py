"""The file connector: vendor systems drop HL7 v2 files (single messages, batch files,
MLLP captures) into a folder; each message gets the same promises as over MLLP, and the
file is moved to ``done/`` or ``error/`` only once Kafka holds all of its messages."""
