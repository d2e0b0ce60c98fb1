# One image for every hl7bus part: pick the part with the command, e.g.
#   docker run hl7bus connector mllp
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY hl7bus ./hl7bus
COPY connectors ./connectors
COPY services ./services
COPY schemas ./schemas
# The tested versions of every dependency (constraints.txt), as `make` installs them.
# The sender profiles of the simulated hospital's vendors (they match only its made-up
# senders) go to /etc/hl7bus/profiles, the MLLP connector's profile folder in compose.
# The file connector's pickup folder belongs to the user that runs it, so that a named
# volume mounted there takes that owner and the connector can file messages away.
RUN pip install --no-cache-dir -c constraints.txt . \
    && mkdir -p /etc/hl7bus/profiles \
    && cp hl7bus/samples/profiles/ashgrove-*.toml /etc/hl7bus/profiles/ \
    && useradd --system --uid 10001 hl7bus \
    && mkdir -p /var/lib/hl7bus/inbox/done /var/lib/hl7bus/inbox/error \
    && chown -R hl7bus:hl7bus /var/lib/hl7bus
USER hl7bus
ENTRYPOINT ["hl7bus"]
CMD ["--help"]
