# syntax=docker/dockerfile:1
# smsfleet: one static binary, every role a subcommand (smsfleet api|worker|receipts|monitor|all|...).
#   docker build --build-arg VERSION=$(git describe --tags --always) -t smsfleet .
#   docker run --rm -e SMSFLEET_REDIS_ADDR=redis:6379 -e SMSFLEET_APPLICATIONS=... smsfleet api

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first: this layer is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/smsfleet ./cmd/smsfleet

# Static binary on distroless: no shell, no package manager, non-root.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/smsfleet /smsfleet
USER 65532:65532
EXPOSE 8080
ENV SMSFLEET_HTTP_ADDR=0.0.0.0:8080 \
    SMSFLEET_LOG_FORMAT=json
ENTRYPOINT ["/smsfleet"]
CMD ["all"]
