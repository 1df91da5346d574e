# flowservice: a prebuilt static binary (CGO_ENABLED=0) on an empty base. No
# build stage and no "# syntax=" line: nothing is pulled, so the image builds
# with the classic builder (DOCKER_BUILDKIT=0) on a machine with no registry.
# `make images` builds the binary into the build context first.
FROM scratch
COPY flowservice /flowservice
# /data holds the SQLite database; it is created owned by the service's user
# so a named volume mounted there inherits that ownership. SQLite also puts
# its temporary files in $TMPDIR, and scratch has no /tmp.
COPY --chown=65532:65532 data /data
ENV FLOWSERVICE_LISTEN=0.0.0.0:8081 \
    FLOWSERVICE_DB=/data/flowservice.db \
    TMPDIR=/data
VOLUME /data
EXPOSE 8081
USER 65532:65532
ENTRYPOINT ["/flowservice"]
