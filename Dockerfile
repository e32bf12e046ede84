# healthcenter's one image: every service (`order`, `payment`, `reservation`,
# `notification`), the gateway alone (`gateway`: nginx on the rendered
# template) or the whole system (`up`, the default). Built by `make image`
# (scripts/image.sh); docs/deploy.md. BASE: debian:12-slim, or the same made
# locally by scripts/base-image.sh where no registry can be reached.
ARG BASE=debian:12-slim

FROM ${BASE} AS build
# Package versions are the Debian release's, which the base pins (DL3008).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake pkg-config \
      libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libsqlite3-dev libsodium-dev \
      zlib1g-dev librdkafka-dev libjwt-dev libpq-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr -DHC_WERROR=ON \
 && cmake --build /build -j"$(nproc)" --target healthcenter man \
 && DESTDIR=/stage cmake --install /build --strip \
 && rm -rf /stage/usr/lib/systemd /stage/usr/share/man \
 && install -D -m 0755 deploy/docker/healthcheck.sh /stage/usr/share/healthcenter/healthcheck.sh

FROM ${BASE}
ARG VERSION=dev
LABEL org.opencontainers.image.title=healthcenter \
      org.opencontainers.image.description="health-checkup reservations: four services and an nginx gateway" \
      org.opencontainers.image.version=${VERSION}
# The runtime libraries, nginx for the gateway, curl for the HEALTHCHECK,
# tzdata (HC_TZ) and the CA certificates (an SMS API or Kafka over TLS): no
# compiler, no headers, no package lists.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmicrohttpd12 libjansson4 libcurl4 \
      libsqlite3-0 libsodium23 zlib1g librdkafka1 libjwt0 libpq5 nginx curl tzdata \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/* /usr/share/doc /usr/share/man \
      /etc/nginx/sites-enabled/* \
 && groupadd --system --gid 10001 healthcenter \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin healthcenter \
 && install -d -o 10001 -g 10001 -m 0700 /data /run/healthcenter
COPY --from=build /stage/ /
# The container's defaults: listen on every interface, data on the volume,
# logs as JSON lines on stdout/stderr. Anything here can be overridden.
ENV HC_BIND_ADDR=0.0.0.0 \
    HC_DATA_DIR=/data \
    HC_RUN_DIR=/run/healthcenter \
    HC_LOG_FORMAT=json
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080 8081 8082 8083 8084
# Every mode drains on SIGTERM: the services finish their requests and
# publish their outbox, `up` stops the gateway first, `gateway` lets nginx
# finish (SIGQUIT).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/share/healthcenter/healthcheck.sh"]
ENTRYPOINT ["/usr/bin/healthcenter"]
CMD ["up"]
