# The operator image the Helm chart runs. Its default image.repository, ghcr.io/canton-operator/canton-operator,
# is pushed (linux/amd64 and linux/arm64, cosign-signed) only by .github/workflows/release.yaml for a tag v*;
# until then build it yourself: `docker build -t <repo>:<tag> .` (or podman), see the README's install section.
# The build needs no system protoc: build.rs compiles the Admin API protos with a pure-Rust compiler.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --profile dist --locked --bin canton-operator

# Non-root (65532), no shell; works with the chart's read-only root filesystem.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/dist/canton-operator /usr/local/bin/canton-operator
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/canton-operator"]
CMD ["run"]
