//go:build !failpoints

package main

import (
	"io"

	"github.com/twmb/franz-go/pkg/kgo"
)

// faultInjection is empty in the shipped binary: the failpoints and the
// chaos dialer exist only in builds with -tags failpoints (faults_on.go),
// which the fault-injection tests use.
func faultInjection([]string, io.Writer) (func(string), []kgo.Opt, error) {
	return nil, nil, nil
}
