// Package lambdarun is what every function's main does around its wiring: JSON logs that carry
// the request id, init failures reported to the Runtime API, and lambda.Start.
package lambdarun

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Logger is the function's logger (JSON, with the request id of each invocation), also made the
// default.
func Logger() *slog.Logger {
	log := lambdacontext.NewLogger()
	slog.SetDefault(log)
	return log
}

// Check ends init when err is not nil: the message is logged, reported to Lambda's /init/error
// endpoint (so it shows in the console and in `sam local invoke`) and the process exits.
func Check(err error) {
	if err == nil {
		return
	}
	slog.Error("init failed", "error", err.Error())
	postInitError(err)
	os.Exit(1)
}

// Start serves invocations with handler until the runtime stops the process.
func Start(handler any) { lambda.Start(handler) }

// postInitError tells the Runtime API why init failed (aws-lambda-go has no helper for it).
func postInitError(initErr error) {
	api := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	if api == "" {
		return
	}
	body, _ := json.Marshal(map[string]string{"errorMessage": initErr.Error(), "errorType": "Runtime.InitError"})
	req, err := http.NewRequest(http.MethodPost, "http://"+api+"/2018-06-01/runtime/init/error", bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "could not report init error:", err)
		return
	}
	resp.Body.Close()
}
