// Package e2e holds convoflow's end-to-end suite: the three servers
// (Conversations fake, FlowService, ParticipantService) as separate
// containers on a user-defined network, started with testcontainers-go from
// the images `make images` builds, and driven only through their public
// interfaces. The tests carry the build tag e2e; run them with `make e2e`.
package e2e
