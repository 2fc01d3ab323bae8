package recordstest

import (
	"sync"
	"testing"

	pb "github.com/imagepipe/imagepipe/gen/imagepipe/v1"
	"github.com/imagepipe/imagepipe/internal/stores/records"
)

func testConcurrentMutateLosesNothing(t *testing.T, newStore NewStore) {
	s := newStore(t)
	img := newImage(t, "", "")
	create(t, s, img)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := records.Mutate(t.Context(), s, img.Id, func(im *pb.Image) error { im.Attempts++; return nil })
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := get(t, s, img.Id)
	if got.Image.GetAttempts() != n || got.Version != n+1 {
		t.Errorf("attempts = %d v%d, want %d v%d", got.Image.GetAttempts(), got.Version, n, n+1)
	}
}
