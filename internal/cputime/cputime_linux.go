//go:build linux

package cputime

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of /proc/PID/stat's times: USER_HZ, which Linux
// fixes at 100 for user space whatever the kernel's internal HZ.
const clockTick = 10 * time.Millisecond

// OfProcess returns the user and system CPU time process pid has used so
// far, read from /proc/PID/stat at a resolution of 10 ms: for benchmarks
// that run the services as their own processes.
func OfProcess(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields counted below start after its closing parenthesis.
	end := bytes.LastIndexByte(raw, ')')
	if end < 0 {
		return 0, fmt.Errorf("cputime: /proc/%d/stat: no command name", pid)
	}
	fields := bytes.Fields(raw[end+1:])
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("cputime: /proc/%d/stat: %d fields", pid, len(fields)+2)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cputime: /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}
