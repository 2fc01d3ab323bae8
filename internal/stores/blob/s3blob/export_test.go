package s3blob

// StagingDir is the first key segment of staging objects.
const StagingDir = stagingDir

// SetCopyLimits lowers the size above which s copies a staged upload with a
// multipart copy, and that copy's part size, so that tests can exercise
// multipart copies without 5 GiB objects.
func SetCopyLimits(s *Store, limit, partSize int64) {
	s.copyLimit, s.copyPartSize = limit, partSize
}
