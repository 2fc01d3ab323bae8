package processor

// SetMaxBatchDeletes changes how many images one DeleteBatch call deletes
// until the returned function restores it.
func SetMaxBatchDeletes(n int) (restore func()) {
	old := maxBatchDeletes
	maxBatchDeletes = n
	return func() { maxBatchDeletes = old }
}
