package fsblob

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// RootFromURL returns the root directory named by a file URL; see the
// package documentation for the accepted forms.
func RootFromURL(u *url.URL) (string, error) {
	if u.Scheme != Scheme {
		return "", fmt.Errorf("fsblob: URL scheme %q, want %q", u.Scheme, Scheme)
	}
	if u.RawQuery != "" || u.ForceQuery {
		return "", fmt.Errorf("fsblob: URL %q: query parameters are not supported (percent-encode '?' as %%3F)", u.Redacted())
	}
	if u.Fragment != "" {
		return "", fmt.Errorf("fsblob: URL %q: unexpected fragment (percent-encode '#' as %%23)", u.Redacted())
	}
	if u.User != nil {
		return "", fmt.Errorf("fsblob: URL %q: user info is not supported", u.Redacted())
	}
	var p string
	switch {
	case u.Opaque != "": // file:rel/path
		var err error
		if p, err = url.PathUnescape(u.Opaque); err != nil {
			return "", fmt.Errorf("fsblob: URL %q: %w", u.Redacted(), err)
		}
	case u.Host == "" || u.Host == "localhost": // file:///abs, file://localhost/abs
		p = u.Path
	case u.Host == "." || u.Host == "..": // file://./rel
		p = u.Host + u.Path
	default:
		return "", fmt.Errorf("fsblob: URL %q: host %q not supported (use file:///abs/path or file://./rel/path)", u.Redacted(), u.Host)
	}
	if strings.TrimSpace(p) == "" {
		return "", fmt.Errorf("fsblob: URL %q has no path", u.Redacted())
	}
	return filepath.FromSlash(p), nil
}
