//go:build !unix

package fsblob

import "os"

// openData opens a data file for reading.
func openData(name string) (*os.File, error) { return os.Open(name) }
