# fakeconversations: a prebuilt static binary (CGO_ENABLED=0) on an empty base. No
# build stage and no "# syntax=" line: nothing is pulled, so the image builds
# with the classic builder (DOCKER_BUILDKIT=0) on a machine with no registry.
# `make images` builds the binary into the build context first.
FROM scratch
COPY fakeconversations /fakeconversations
ENV FAKECONVERSATIONS_LISTEN=0.0.0.0:8083
EXPOSE 8083
USER 65532:65532
ENTRYPOINT ["/fakeconversations"]
