# Slim, non-root image of the whole platform, in two stages: the first builds the wheels (and
# holds pip's caches and any compiler), the second installs only them.
#   docker build -t telemed .     (deploy/compose.yaml builds and runs it as a cluster)

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY telemed ./telemed
COPY ehr ./ehr
COPY labs ./labs
COPY webrtc ./webrtc
COPY reports ./reports
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    TELEMED_HOST=0.0.0.0 TELEMED_PORT=8080 \
    TELEMED_DATABASE_URL=sqlite:////var/lib/telemed/telemed.db TELEMED_DATA_DIR=/var/lib/telemed/data

# A TrueType CJK font is embedded in every exam report; PyAV and psycopg ship their own libraries.
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-wqy-zenhei fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/telemed --create-home telemed \
 && mkdir -p /var/lib/telemed/data && chown -R telemed /var/lib/telemed
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links=/wheels telemed && rm -rf /wheels /root/.cache

USER telemed
VOLUME ["/var/lib/telemed"]
EXPOSE 8080 2575
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"
# One process alone migrates on start; in a cluster a one-off `telemed db upgrade` runs first
# (compose.yaml's migrate service) and the processes only serve.
CMD ["sh", "-c", "telemed db upgrade && exec telemed serve"]
