"""Avro without I/O: the bus's schemas and the compiled record writer."""
