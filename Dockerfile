# twotime on Debian 12, built from source with the same Debian packages the
# project's scripts install (see scripts/setup).  Used by docker-compose.yml.
FROM debian:12 AS build
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      --no-install-recommends build-essential cmake pkg-config \
      librdkafka-dev libavro-dev librocksdb-dev libopenblas-dev libconfig-dev \
      libcmocka-dev libmicrohttpd-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake --preset release && cmake --build build/release -j"$(nproc)" --target twotime

FROM debian:12-slim
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      --no-install-recommends librdkafka1 libavro23 librocksdb7.8 \
      libopenblas0-pthread libconfig9 libmicrohttpd12 && \
    rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/release/twotime /usr/local/bin/twotime
COPY conf/twotime.conf /etc/twotime/twotime.conf
WORKDIR /var/lib/twotime
ENTRYPOINT ["twotime"]
CMD ["help"]
