package imaging

import (
	"testing"

	"github.com/davidbyttow/govips/v2/vips"
)

// TestVipsBridge checks the reach into govips' ImageRef (vipsc.go): the
// pointer is the image govips sees, and an adopted image is owned by its
// new ref.
func TestVipsBridge(t *testing.T) {
	Startup(Config{})
	img, err := vips.Black(37, 21)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if c := cImage(img); c == nil || int(c.Xsize) != 37 || int(c.Ysize) != 21 {
		t.Fatalf("cImage: %+v", c)
	}
	img.SetString("probe", "kept")
	mem, err := copyMemory(img)
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if mem.Width() != 37 || mem.Height() != 21 || mem.GetString("probe") != "kept" || cImage(mem) == cImage(img) {
		t.Errorf("copyMemory: %dx%d, probe %q, same image %v", mem.Width(), mem.Height(), mem.GetString("probe"), cImage(mem) == cImage(img))
	}
	// An image already in memory still gets an image of its own.
	again, err := copyMemory(mem)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	removeField(mem, "probe")
	if mem.GetString("probe") != "" {
		t.Error("removeField left the field")
	}
	if cImage(again) == cImage(mem) || again.GetString("probe") != "kept" {
		t.Errorf("copyMemory of a memory image shares it: probe %q", again.GetString("probe"))
	}
}
