// Command echo is a test fixture: it returns the event together with what the
// Runtime API told it (request id, deadline, ARN, trace id) and its Lambda
// environment.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type reply struct {
	Event           json.RawMessage   `json:"event"`
	RequestID       string            `json:"requestId"`
	FunctionArn     string            `json:"functionArn"`
	DeadlineMs      int64             `json:"deadlineMs"`
	TraceID         string            `json:"traceId"`
	TraceIDContext  string            `json:"traceIdContext"`
	FunctionName    string            `json:"functionName"`
	FunctionVersion string            `json:"functionVersion"`
	MemoryLimitInMB int               `json:"memoryLimitInMB"`
	LogGroupName    string            `json:"logGroupName"`
	LogStreamName   string            `json:"logStreamName"`
	Cwd             string            `json:"cwd"`
	Env             map[string]string `json:"env"`
}

var envKeys = []string{
	"AWS_LAMBDA_RUNTIME_API", "_HANDLER", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION",
	"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
	"AWS_REGION", "AWS_DEFAULT_REGION", "LAMBDA_TASK_ROOT", "AWS_LAMBDA_INITIALIZATION_TYPE", "TZ",
	"ECHO_EXTRA", "HOME",
}

func handle(ctx context.Context, event json.RawMessage) (reply, error) {
	lc, ok := lambdacontext.FromContext(ctx)
	if !ok {
		return reply{}, fmt.Errorf("no lambda context")
	}
	deadline, _ := ctx.Deadline()
	log.Printf("echo: handling %s", lc.AwsRequestID)
	r := reply{
		Event:           event,
		RequestID:       lc.AwsRequestID,
		FunctionArn:     lc.InvokedFunctionArn,
		DeadlineMs:      deadline.UnixMilli(),
		TraceID:         os.Getenv("_X_AMZN_TRACE_ID"),
		FunctionName:    lambdacontext.FunctionName,
		FunctionVersion: lambdacontext.FunctionVersion,
		MemoryLimitInMB: lambdacontext.MemoryLimitInMB,
		LogGroupName:    lambdacontext.LogGroupName,
		LogStreamName:   lambdacontext.LogStreamName,
		Env:             map[string]string{},
	}
	if v, ok := ctx.Value("x-amzn-trace-id").(string); ok {
		r.TraceIDContext = v
	}
	r.Cwd, _ = os.Getwd()
	for _, k := range envKeys {
		if v, ok := os.LookupEnv(k); ok {
			r.Env[k] = v
		}
	}
	return r, nil
}

func main() {
	lambda.Start(handle)
}
