"""Avro without I/O: the bus's schemas, the compiled record writer and reader."""
