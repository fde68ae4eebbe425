# syntax=docker/dockerfile:1
# foap, the Fast OpenAI API Proxy: build with the Swift toolchain, run on a slim Debian with only what the binary
# needs. Build: docker build -t foap .
# Run:   docker run -d -p 8000:8000 -v "$PWD/configs:/configs:ro" -e OPENAI_API_TOKEN --stop-timeout 75 foap
#
# PID 1: `foap serve` is the master. It blocks SIGTERM/SIGINT/SIGHUP/SIGCHLD and reads them from a signalfd, so as
# PID 1 it still receives `docker stop` and `docker kill -s HUP` (blocked signals reach PID 1; only signals left at
# their default action are dropped), drains its workers and exits; it reaps every child with waitpid(-1). So
# `--init` is not needed (it does no harm either: tini forwards the signals).

ARG SWIFT_IMAGE=swift:6.3.1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS build
# Unpinned on purpose (DL3008): bookworm's security updates replace exact versions, which would break the build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsystemd-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so a source change does not fetch the packages again (Package.resolved when present).
COPY Package.* ./
RUN swift package resolve
COPY Sources ./Sources
# Package.swift names targets under Tests/ and Fuzz/ (test support, the fuzzer); SwiftPM refuses a manifest whose
# target paths are missing, even when building only `foap`.
COPY Tests ./Tests
COPY Fuzz ./Fuzz
# The release link's function order and libstdc++ shim (Package.swift, releaseLinking; README "Memory").
COPY link ./link
# Built as everywhere else (scripts/build-release: the Swift runtime, Foundation, ICU and libstdc++ linked in, libc,
# zlib and libsystemd shared; optimized across modules at the link).
COPY scripts/build-release ./scripts/build-release
# In .build, where `swift package resolve` put the dependencies (.build-release, its default, would fetch them again).
RUN scripts/build-release --scratch-path .build \
    && install -D -m 0755 "$(scripts/build-release --scratch-path .build --show-bin-path)/foap" /out/foap

FROM ${RUNTIME_IMAGE}
# libsystemd0 and zlib1g are already part of the slim image; certificates for HTTPS upstreams and curl
# for the health check are all that is added (unpinned on purpose, as above).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin foap
COPY --from=build /out/foap /usr/local/bin/foap
COPY configs/ /configs/
ENV FOAP_CONFIG_DIR=/configs \
    FOAP_HOST=0.0.0.0 \
    FOAP_PORT=8000 \
    FOAP_LOG_FORMAT=json
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["sh", "-c", "curl -fsS --max-time 4 \"http://127.0.0.1:${FOAP_PORT}/health\" || exit 1"]
# docker stop sends SIGTERM; the master drains for up to FOAP_DRAIN_TIMEOUT (60 s): give it --stop-timeout 75.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/foap"]
CMD ["serve"]
