// Command fail is a test fixture whose handler fails in the way the event
// asks: {"mode":"error"} returns an error, "panic" panics (aws-lambda-go
// posts the error and then exits), "exit" exits mid-invocation, "big"
// returns a response over Lambda's 6 MB limit; anything else succeeds.
package main

import (
	"context"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
)

type request struct {
	Mode string `json:"mode"`
}

// ValidationError is a custom error type: its name becomes the errorType.
type ValidationError struct{ Field string }

func (e *ValidationError) Error() string { return "invalid field " + e.Field }

func handle(ctx context.Context, req request) (string, error) {
	switch req.Mode {
	case "error":
		return "", &ValidationError{Field: "name"}
	case "panic":
		panic("boom")
	case "exit":
		os.Exit(3)
	case "big":
		return strings.Repeat("x", 7*1024*1024), nil
	}
	return "ok", nil
}

func main() {
	lambda.Start(handle)
}
