package imaging_test

import (
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/engine/imaging"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

// Every variant reports when it started and how its time divides between
// rendering and encoding, within the job: the processor turns these into
// its stage histograms and spans.
func TestTimings(t *testing.T) {
	before := time.Now()
	res := process(t, imagetest.Fixture(t, landscapeJPEG), defaultPreset()...)
	after := time.Now()
	if res.Start.Before(before) || res.Decode <= 0 || res.Start.Add(res.Decode).After(after) {
		t.Errorf("decode %v from %v, want within [%v, %v]", res.Decode, res.Start, before, after)
	}
	decoded := res.Start.Add(res.Decode)
	for _, v := range res.Variants {
		if v.Start.Before(decoded) || v.Start.Add(v.Elapsed).After(after) {
			t.Errorf("%s: %v from %v, want after the decode (%v) and before %v", v.Name, v.Elapsed, v.Start, decoded, after)
		}
		if v.Encode <= 0 || v.Encode > v.Elapsed {
			t.Errorf("%s: encode %v of %v, want in (0, elapsed]", v.Name, v.Encode, v.Elapsed)
		}
	}
}

// libvips' tracked memory is read while it runs: its high-water mark
// covers at least the decoded image, and nothing is left open once the
// jobs are done.
func TestMemStats(t *testing.T) {
	process(t, imagetest.Fixture(t, landscapeJPEG), defaultPreset()...)
	s := imaging.ReadMemStats()
	if s.MemHighwater < 1600*900*3 {
		t.Errorf("high-water mark %d bytes, want at least one decoded 1600x900 RGB image (%d)", s.MemHighwater, 1600*900*3)
	}
	if s.Mem < 0 || s.Mem > s.MemHighwater || s.Allocs < 0 || s.Files < 0 {
		t.Errorf("MemStats = %+v, want 0 <= Mem <= MemHighwater and counts >= 0", s)
	}
	if n := imaging.Active(); n != 0 {
		t.Errorf("Active() = %d with no job running, want 0", n)
	}
}
