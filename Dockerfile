# housekeeping as a container: `make container` (VERSION from the git tag or VERSION=), or plain `docker build .`
# for a development image. The build stage compiles one executable with `deno task compile` (deno.json holds the
# flags); the final stage is distroless with that executable and the default veto list only.
#
# Configuration is by environment (README "Configuration"): KAFKA_BROKERS, KAFKA_USERNAME/KAFKA_PASSWORD,
# S3_BUCKET, DATABASE_URL, ... AWS credentials come from the task role (ECS) or the pod's service account.
# Replace the veto list by mounting a file over /etc/housekeeping/veto.yaml, or point VETO_FILE elsewhere.

# Keep in step with DENO_VERSION in scripts/deno.sh (tests/integration/container_test.ts checks it).
ARG DENO_VERSION=2.9.6

FROM denoland/deno:${DENO_VERSION} AS build
WORKDIR /src
# npm packages first: this layer is reused until deno.json or deno.lock changes.
COPY deno.json deno.lock ./
RUN deno install --frozen
COPY main.ts ./
COPY lib/ lib/
# mock-hop's sample payloads, embedded in the executable by `deno task compile` (--include).
COPY testdata/samples/ testdata/samples/
COPY scripts/stamp-version.sh scripts/
# The sources here are a throwaway copy, so they are stamped in place. `deno compile` downloads its runtime (denort)
# from dl.deno.land; the check at the end runs the result once so a broken executable fails the build, not the pod.
ARG VERSION=0.0.0-dev
RUN scripts/stamp-version.sh "$VERSION" lib/version.ts \
  && deno task compile \
  && test "$(dist/housekeeping --version)" = "housekeeping $VERSION"

# cc: glibc and libgcc_s, which executables from `deno compile` link against. :nonroot runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.0.0-dev
LABEL org.opencontainers.image.title="housekeeping" \
  org.opencontainers.image.description="Byte-exact archiver for Hopskotch (SCiMMA's Kafka alert network)" \
  org.opencontainers.image.version="$VERSION"
COPY --from=build /src/dist/housekeeping /housekeeping
COPY veto.yaml /etc/housekeeping/veto.yaml
# HTTP_PORT turns on the archiver's /healthz and /metrics, which the health check below and orchestrators use.
# `serve` (docker run ... serve) listens on the same HTTP_PORT and answers /healthz too, so the check fits both.
# glibc's mmap threshold is fixed by the program itself (lib/runtime/memory.ts), as in every other way of running it.
ENV VETO_FILE=/etc/housekeeping/veto.yaml \
  HTTP_PORT=8080
EXPOSE 8080
USER nonroot
# No shell or curl in distroless: the binary asks its own endpoint. ECS ignores image health checks: repeat it in the
# task definition as ["CMD", "/housekeeping", "healthz"]; Kubernetes probes GET /healthz on port 8080 directly.
HEALTHCHECK --interval=30s --timeout=10s --start-period=2m --retries=3 CMD ["/housekeeping", "healthz"]
ENTRYPOINT ["/housekeeping"]
CMD ["archive"]
