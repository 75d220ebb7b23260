# Build stage. The context is the repository minus .dockerignore (target/, .git, .env).
FROM rust:1.95-bookworm AS builder
WORKDIR /app
COPY Cargo.toml Cargo.lock ./
COPY . .
# The cache mounts keep the crate registry and compiled dependencies between image builds;
# the binary is copied out because the target directory is not part of the image layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/app/target \
    cargo build --release --locked --bin herald \
    && cp target/release/herald /usr/local/bin/herald \
    && mkdir -p templates

# Runtime stage: the binary, its templates and CA certificates for TLS to SMTP and webhooks.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --user-group --no-create-home --home-dir /app herald
WORKDIR /app
COPY --from=builder /usr/local/bin/herald /usr/local/bin/herald
COPY --from=builder /app/templates /app/templates
USER herald
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/herald"]
CMD ["run"]
