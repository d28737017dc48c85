package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/tossgame/migration-server/shared/httpapi"
)

// Build makes a function's handler from its settings; it runs once per container.
type Build func(ctx context.Context, c Config) (httpapi.Handler, error)

// Main is a function's whole main: read the settings, build, and serve Lambda invocations. A
// failure to initialise is reported to Lambda's /init/error endpoint with a clear message (so it
// shows in the console and in `sam local invoke`) and the process exits.
func Main(needSecret bool, build Build) {
	log := lambdacontext.NewLogger()
	slog.SetDefault(log)
	ctx := context.Background()
	c, err := FromEnv(os.Getenv, needSecret)
	var h httpapi.Handler
	if err == nil {
		c.Log = log
		h, err = build(ctx, c)
	}
	if err != nil {
		log.Error("init failed", "error", err.Error())
		postInitError(err)
		os.Exit(1)
	}
	lambda.Start(h)
}

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

// BuildStatus is the status function's Build: its DynamoDB client, created once per container,
// around the handler.
func BuildStatus(ctx context.Context, c Config) (httpapi.Handler, error) {
	cfg, err := LoadAWS(ctx)
	if err != nil {
		return nil, err
	}
	return NewStatus(c, DynamoDB(cfg)), nil
}
