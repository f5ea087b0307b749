//go:build !unix

package rlimit

import "errors"

var errUnsupported = errors.New("open-file limits are not available on this system")

// Files is not available here.
func Files() (soft, hard uint64, err error) { return 0, 0, errUnsupported }

// Raise is not available here.
func Raise() (uint64, error) { return 0, errUnsupported }
