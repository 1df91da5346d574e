package roster

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// File is a roster loaded from a file that can change while the service
// runs. Readers always see a complete, valid roster: a reload that fails
// (a half-written file, a typo) is logged and the previous roster stays.
type File struct {
	path   string
	logger *slog.Logger
	cur    atomic.Pointer[Roster]

	mu      sync.Mutex // serialises reloads and guards modTime/size
	modTime time.Time
	size    int64
}

// OpenFile loads the roster at path. The first load must succeed: a service
// that starts without agents would only fail later, at the first request.
func OpenFile(path string, logger *slog.Logger) (*File, error) {
	f := &File{path: path, logger: logger}
	if _, err := f.reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Roster returns the current roster.
func (f *File) Roster() *Roster { return f.cur.Load() }

// Reload reads the file again (on SIGHUP, for instance). On error the
// previous roster stays in use and the error is returned.
func (f *File) Reload() error {
	_, err := f.reload()
	if err != nil {
		f.logger.Error("roster reload failed; keeping the previous roster", "path", f.path, "err", err)
	}
	return err
}

func (f *File) reload() (*Roster, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := os.Stat(f.path)
	if err != nil {
		return nil, err
	}
	// Remember what was tried even if it fails, so a broken file is reported
	// once per change rather than on every poll.
	f.modTime, f.size = st.ModTime(), st.Size()
	r, err := Load(f.path)
	if err != nil {
		return nil, err
	}
	f.cur.Store(r)
	f.logger.Info("roster loaded", "path", f.path, "agents", len(r.Agents))
	return r, nil
}

// changed reports whether the file looks different from the last load.
// Stat-based polling (instead of inotify) also follows the symlink swaps
// Kubernetes uses to update mounted ConfigMaps.
func (f *File) changed() bool {
	st, err := os.Stat(f.path)
	if err != nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return !st.ModTime().Equal(f.modTime) || st.Size() != f.size
}

// Watch reloads the roster whenever the file changes, checking every
// interval, until ctx is done.
func (f *File) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if f.changed() {
				_ = f.Reload()
			}
		}
	}
}
