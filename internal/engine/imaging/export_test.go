package imaging

// SetDecodeHook installs f to be called after every decode with the size of
// the decoded base image, and returns a function restoring the previous hook.
// Not safe to use from parallel tests.
func SetDecodeHook(f func(w, h int)) (restore func()) {
	prev := decodeHook
	decodeHook = f
	return func() { decodeHook = prev }
}

// SetParallelism overrides Config.Parallelism and returns a function
// restoring it. Not safe to use from parallel tests.
func SetParallelism(n int) (restore func()) {
	prev := config.Parallelism
	config.Parallelism = n
	return func() { config.Parallelism = prev }
}
