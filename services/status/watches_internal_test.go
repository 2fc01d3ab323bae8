package status

import "testing"

// Slots are counted per tenant, refused over the cap, and a tenant's entry
// goes when its last slot is released (the map does not grow without
// bound); a release called twice counts once.
func TestWatchSlots(t *testing.T) {
	w := newWatchSlots(2)
	r1, err := w.acquire("a")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := w.acquire("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.acquire("a"); err == nil {
		t.Fatal("third slot of tenant a granted")
	}
	rb, err := w.acquire("b")
	if err != nil {
		t.Fatalf("tenant b: %v", err)
	}
	r1()
	r1()
	if n, tenants := w.open("a"); n != 1 || tenants != 2 {
		t.Errorf("after one release (twice): a holds %d, %d tenants; want 1, 2", n, tenants)
	}
	r2()
	rb()
	if n, tenants := w.open("a"); n != 0 || tenants != 0 {
		t.Errorf("after every release: a holds %d, %d tenants; want 0, 0", n, tenants)
	}
}
