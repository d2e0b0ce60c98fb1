# One image for every hl7bus part: pick the part with the command, e.g.
#   docker run hl7bus connector mllp
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY hl7bus ./hl7bus
COPY connectors ./connectors
COPY services ./services
COPY schemas ./schemas
RUN pip install --no-cache-dir . && useradd --system --uid 10001 hl7bus
USER hl7bus
ENTRYPOINT ["hl7bus"]
CMD ["--help"]
