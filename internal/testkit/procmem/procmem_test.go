package procmem_test

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/imagepipe/imagepipe/internal/testkit/procmem"
)

// Touching 64 MiB raises the peak by about that much; once it is freed,
// ResetPeak starts the peak again from the current RSS.
func TestReadAndResetPeak(t *testing.T) {
	if runtime.GOOS != "linux" || !procmem.CanResetPeak() {
		t.Skip("needs Linux /proc with clear_refs")
	}
	before := read(t, procmem.Self)
	buf := make([]byte, 64<<20)
	for i := 0; i < len(buf); i += os.Getpagesize() {
		buf[i] = 1
	}
	during := read(t, procmem.Self)
	if grew := procmem.MiB(during.Peak - before.Peak); grew < 48 {
		t.Errorf("peak grew %.1f MiB after touching 64 MiB", grew)
	}
	if during.RSS > during.Peak {
		t.Errorf("RSS %d above peak %d", during.RSS, during.Peak)
	}
	runtime.KeepAlive(buf)
	buf = nil
	debug.FreeOSMemory() // the 64 MiB go back: RSS falls, the peak stays
	freed := read(t, procmem.Self)
	if procmem.MiB(freed.Peak-freed.RSS) < 32 {
		t.Skipf("the runtime kept the memory (RSS %.1f MiB, peak %.1f): cannot see a reset", procmem.MiB(freed.RSS), procmem.MiB(freed.Peak))
	}
	if err := procmem.ResetPeak(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	after := read(t, os.Getpid())
	if procmem.MiB(after.Peak-after.RSS) > 16 {
		t.Errorf("after ResetPeak the peak is %.1f MiB above RSS (was %.1f)", procmem.MiB(after.Peak-after.RSS), procmem.MiB(freed.Peak-freed.RSS))
	}
}

func TestReadMissingProcess(t *testing.T) {
	if _, err := procmem.Read(1 << 30); err == nil {
		t.Error("read a process that does not exist")
	}
}

func read(t *testing.T, pid int) procmem.Usage {
	t.Helper()
	u, err := procmem.Read(pid)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
