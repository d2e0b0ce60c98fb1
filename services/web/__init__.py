"""The web front door: hl7bus's one HTTP API, over the timeline store (``hl7bus service
web``).

- :mod:`.app` — ``create_app(settings, store, audit)``, the ASGI application;
- :mod:`.patients`, :mod:`.alerts`, :mod:`.stream`, :mod:`.health` — one router per
  resource; :mod:`.alert_changes` — acknowledgements and resolutions onto
  ``clinical.alerts``;
- :mod:`.tokens` — signed bearer tokens (no HTTP), :mod:`.auth` — who is asking, and may they;
- :mod:`.audit` — the access audit on ``audit.access``; :mod:`.middleware` — audit, metrics
  and last-resort errors around every request;
- :mod:`.models` — the answers' pydantic models; :mod:`.errors` — the refusals' shape;
  :mod:`.reading` — the store's failures as answers; :mod:`.metrics`; :mod:`.main` — uvicorn.
"""
