// Command sleep is a test fixture whose handler sleeps for the event's
// duration ({"sleep":"50ms"}), ignoring its deadline, and then reports how
// much time its context had left when it started.
package main

import (
	"context"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

type request struct {
	Sleep string `json:"sleep"`
}

func handle(ctx context.Context, req request) (string, error) {
	d, err := time.ParseDuration(req.Sleep)
	if err != nil {
		return "", err
	}
	deadline, _ := ctx.Deadline()
	left := time.Until(deadline).Round(100 * time.Millisecond)
	time.Sleep(d)
	return "slept " + d.String() + ", had " + left.String(), nil
}

func main() {
	lambda.Start(handle)
}
