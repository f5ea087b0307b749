# waitingroom image: a static binary in an otherwise empty image, run as a
# non-root user. Build (on a machine that can pull golang from a registry):
#
#   docker build -t waitingroom .
#
# On a machine without registry access (the project's dev and CI machines)
# nothing can be pulled, so this stage cannot run: build the same image from
# a binary compiled on the host with Dockerfile.local, in one command:
#
#   CGO_ENABLED=0 go build -trimpath -tags timetzdata -ldflags='-s -w' -o dist/waitingroom ./cmd/waitingroom && cp /etc/ssl/certs/ca-certificates.crt dist/ && docker build -f Dockerfile.local -t waitingroom:local dist
#
# Both Dockerfiles produce the same final stage (a test keeps them in step).

ARG GO_VERSION=1.26
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOOS=linux GOFLAGS=-trimpath
# Modules first: the download layer survives source edits.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# timetzdata embeds the zone database: scratch has no /usr/share/zoneinfo,
# and warm windows name IANA time zones.
RUN go build -tags timetzdata -ldflags='-s -w' -o /out/waitingroom ./cmd/waitingroom

FROM scratch
# CA roots for https ready_url probes, webhooks and the GCE API.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/waitingroom /waitingroom
# 65532 is "nonroot" by convention (distroless); scratch has no passwd
# file, so the number is the user. To use the Docker socket, add the
# socket's group (compose: group_add).
USER 65532:65532
EXPOSE 8080 8081
# The binary is its own probe: scratch has no curl or wget.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/waitingroom", "healthcheck", "--url", "http://127.0.0.1:8081/healthz"]
ENTRYPOINT ["/waitingroom"]
CMD ["serve", "--config", "/etc/waitingroom/config.yaml"]
