"""Kafka at the edge: client settings, the schema registry and serde, the topics, preparing
a cluster, and the asyncio bridge to the producer."""
