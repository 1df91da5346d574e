package pgtest

import (
	"errors"
	"syscall"
)

// sysProcAttr makes a child die with the thread that started it
// (Pdeathsig), so a test binary that panics on a timeout or is killed never
// leaves a server running. as, when non-nil, runs the child as that OS user;
// the kernel clears the parent-death signal on a credential change, but Go's
// fork sets it after the setuid, so the two combine.
func sysProcAttr(as *osUser) (*syscall.SysProcAttr, error) {
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if as != nil {
		// An empty Groups drops root's supplementary groups.
		attr.Credential = &syscall.Credential{Uid: as.uid, Gid: as.gid, Groups: []uint32{}}
	}
	return attr, nil
}

// processAlive reports whether pid exists; EPERM means it exists but
// belongs to someone else.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
