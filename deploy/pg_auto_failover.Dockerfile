# PostgreSQL 15 with pg_auto_failover 2.0 (Debian's packages), for compose.yaml's "formation"
# profile: the monitor and the two data nodes all run this image.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-15-auto-failover pg-auto-failover-cli \
    && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/postgresql/15/bin:$PATH
# pg_autoctl refuses to run as root.
USER postgres
WORKDIR /var/lib/postgresql
