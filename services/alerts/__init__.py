"""The alerts service: declared rules over each patient's events, raising ``ClinicalAlert``
records on ``clinical.alerts`` exactly once.

The pure core: ``rules`` (the TOML rule file), ``units`` and ``scores`` (unit conversion,
NEWS2, qSOFA, SIRS), ``state`` (what each patient's rules remember) and ``engine`` (one
event in, the new state and the alerts out).  The edge: ``service`` (the consume–evaluate–
produce loop in Kafka transactions, with the state's changelog).
"""
