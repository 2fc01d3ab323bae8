// Package procmem reads a Linux process's resident memory from /proc: its
// resident set now (VmRSS) and its peak (VmHWM), which ResetPeak starts
// again from the current size. The memory-bound tests (imaging's hostile
// images, the processor's originals, the e2e abuse cases) and the load
// benchmark measure with it.
package procmem

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Self names the calling process.
const Self = 0

// Usage is a process's resident memory, in bytes.
type Usage struct {
	// RSS is the resident set now (VmRSS).
	RSS int64
	// Peak is the largest RSS since the process started or since the last
	// ResetPeak (VmHWM).
	Peak int64
}

// MiB converts bytes to mebibytes, for messages and bounds.
func MiB(b int64) float64 { return float64(b) / (1 << 20) }

// Read returns pid's resident memory (Self: the caller's).
func Read(pid int) (Usage, error) {
	b, err := os.ReadFile(path(pid, "status"))
	if err != nil {
		return Usage{}, err
	}
	var u Usage
	var found int
	for line := range strings.Lines(string(b)) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return Usage{}, fmt.Errorf("procmem: %s: %q: %w", path(pid, "status"), line, err)
		}
		if name == "VmRSS" {
			u.RSS = kb << 10
		} else {
			u.Peak = kb << 10
		}
		found++
	}
	if found != 2 {
		return Usage{}, errors.New("procmem: no VmRSS and VmHWM in " + path(pid, "status"))
	}
	return u, nil
}

// ResetPeak starts pid's peak again from its current RSS (writing 5 to
// clear_refs, Linux 4.0 and later), so that a measurement's peak is its
// own.
func ResetPeak(pid int) error {
	return os.WriteFile(path(pid, "clear_refs"), []byte("5"), 0)
}

// CanResetPeak reports whether ResetPeak can work here.
func CanResetPeak() bool {
	_, err := os.Stat(path(Self, "clear_refs"))
	return err == nil
}

func path(pid int, name string) string {
	if pid == Self {
		return "/proc/self/" + name
	}
	return fmt.Sprintf("/proc/%d/%s", pid, name)
}
