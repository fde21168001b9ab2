# Build stage: compile the release binary with dependencies cached apart
# from the sources.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY api/Cargo.toml api/Cargo.toml
COPY entity/Cargo.toml entity/Cargo.toml
COPY migration/Cargo.toml migration/Cargo.toml
RUN mkdir -p src api/src entity/src migration/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch api/src/lib.rs entity/src/lib.rs migration/src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src api/src entity/src migration/src
COPY . .
RUN touch src/main.rs api/src/lib.rs entity/src/lib.rs migration/src/lib.rs \
    && cargo build --release --locked \
    && strip target/release/sendsongs

# Runtime stage: the binary, CA certificates for the providers, curl for
# the health check, and an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/sendsongs --create-home sendsongs
COPY --from=build /src/target/release/sendsongs /usr/local/bin/sendsongs
USER sendsongs
WORKDIR /var/lib/sendsongs
ENV LISTEN_ADDR=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///var/lib/sendsongs/sendsongs.db?mode=rwc \
    LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/sendsongs"]
CMD ["serve"]
