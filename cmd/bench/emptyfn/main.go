// Command emptyfn is a context row of `make bench` (the budgets are against the bare twins in
// cmd/bench/barefn): an aws-lambda-go function that does nothing. It takes the same event type as
// the real functions (so the runtime decodes the same JSON) and answers a fixed 200. It is built
// with exactly the Lambda flags of the real functions, so that its cold start, its init cost and
// its artifact size are what any Go function pays before doing any work.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "{}"}, nil
	})
}
