# syntax=docker/dockerfile:1.7
# (The line above enables the RUN --mount cache mounts below with any recent Docker.)

# Build stage. The context is the repository minus .dockerignore (target/, .git, .env).
FROM rust:1.95-bookworm AS builder
WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when Cargo.toml or
# Cargo.lock change, not on every source edit. Stub sources stand in for ours.
COPY Cargo.toml Cargo.lock ./
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    mkdir -p src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked --bin herald \
    && rm -rf src target/release/herald* target/release/deps/herald-* target/release/deps/libherald-* \
       target/release/.fingerprint/herald-*

# Then Herald itself. Stripped: about a third of the unstripped size.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo build --release --locked --bin herald \
    && strip target/release/herald \
    && cp target/release/herald /usr/local/bin/herald \
    && mkdir -p templates

# Runtime stage: the binary, its templates and CA certificates for TLS to SMTP and
# webhooks. debian-slim rather than distroless/static: glibc is what the binary links.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --user-group --no-create-home --home-dir /app herald
WORKDIR /app
COPY --from=builder /usr/local/bin/herald /usr/local/bin/herald
COPY --from=builder /app/templates /app/templates
USER herald
# Herald's default (127.0.0.1) would be unreachable through a published port.
ENV HERALD_HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080
# `herald health` asks /readyz: healthy once PostgreSQL and RabbitMQ are reachable.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/herald", "health", "--timeout", "4s"]
ENTRYPOINT ["/usr/local/bin/herald"]
CMD ["run"]
