# participantservice: a prebuilt static binary (CGO_ENABLED=0) on an empty base. No
# build stage and no "# syntax=" line: nothing is pulled, so the image builds
# with the classic builder (DOCKER_BUILDKIT=0) on a machine with no registry.
# `make images` builds the binary into the build context first.
FROM scratch
COPY participantservice /participantservice
ENV PARTICIPANTSERVICE_LISTEN=0.0.0.0:8082
EXPOSE 8082
USER 65532:65532
ENTRYPOINT ["/participantservice"]
