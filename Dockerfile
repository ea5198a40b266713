# The worker image: `bedrock-lb-worker` on a distroless base, as a non-root user.
# Build for the template's default architecture (Fargate ARM64) with:
#   docker buildx build --platform linux/arm64 -t bedrock-lb-worker .
# (scripts/deploy.sh does this and pushes to ECR when a docker engine is available.)

FROM rust:1.95-bookworm AS builder
WORKDIR /src
# Dependencies first, so editing the project's code does not refetch them.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY tests ./tests
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p bedrock-lb --bin bedrock-lb-worker \
    && cp target/release/bedrock-lb-worker /bedrock-lb-worker

# glibc, CA certificates and nothing else; "nonroot" is uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /bedrock-lb-worker /usr/local/bin/bedrock-lb-worker
USER nonroot:nonroot
ENV BEDROCK_LB_BACKEND=aws
ENTRYPOINT ["/usr/local/bin/bedrock-lb-worker"]
