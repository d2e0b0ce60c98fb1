"""The timeline service's pure core: per patient, every event in clinical order, who the
patient is (merges, links, cross-referenced identifiers) and the current state.

No Kafka, no database, no HTTP: values in, values out.  The store, the consumer loop and
the web routes are built on these modules:

- :mod:`.order` — the clinical-order key of an entry;
- :mod:`.entries` — :class:`~.entries.Entry`, one line of a timeline, from an event or an
  alert record;
- :mod:`.identity` — identity as state: ``apply(identity, entry) -> (identity, decision)``,
  ``resolve``, ``group``, ``linked``, ``find``;
- :mod:`.summary` — :class:`~.summary.PatientSummary` and its fold, ``fold(entries)`` and
  ``apply(summary, entry)`` (late entries included); its values are :mod:`.summary_model`'s,
  what each entry changes :mod:`.summary_changes`;
- :mod:`.codec` — a summary as JSON and back, as the store keeps it;
- :mod:`.fhir` — a patient's events as a FHIR R4 bundle, with :mod:`.fhir_datatypes` (FHIR's
  data types from the events' values) and :mod:`.fhir_codes` (the code tables).

The I/O: :mod:`.store` and :mod:`.store_sql` (SQLite, PostgreSQL), :mod:`.consumer` (the
consumer group), :mod:`.rebuild`.
"""
