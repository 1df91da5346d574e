//go:build !linux

package pgtest

import (
	"errors"
	"syscall"
)

// sysProcAttr has no parent-death signal outside Linux, so there a server
// whose test binary was killed keeps running until stopped by hand. Running
// as root (which needs a credential switch) is supported on Linux only.
func sysProcAttr(as *osUser) (*syscall.SysProcAttr, error) {
	if as != nil {
		return nil, errors.New("pgtest: running as root is supported on Linux only")
	}
	return nil, nil
}

// processAlive is conservative outside Linux: leftover directories are
// never swept there, because we cannot tell a dead owner from a live one.
func processAlive(int) bool { return true }
