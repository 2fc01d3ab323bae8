//go:build unix

package fsblob

import (
	"os"
	"syscall"
)

// openData opens a data file for reading. os.Open would also offer a
// regular file to the poller (non-blocking mode on, epoll refuses it,
// blocking mode back: five system calls more); os.NewFile asks once
// (fcntl) and leaves it alone. The file still sendfiles.
func openData(name string) (*os.File, error) {
	var fd int
	err := ignoringEINTR(func() (err error) {
		fd, err = syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

func ignoringEINTR(f func() error) error {
	for {
		if err := f(); err != syscall.EINTR {
			return err
		}
	}
}
