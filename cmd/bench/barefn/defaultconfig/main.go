// Command defaultconfig is the bare status function with the SDK configured by
// config.LoadDefaultConfig instead of awsenv.Load: the bench's evidence for that choice
// (docs/performance.md).
package main

import (
	"context"
	"log"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/tossgame/migration-server/cmd/bench/barefn"
	"github.com/tossgame/migration-server/shared/awsenv"
)

func main() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	barefn.Serve(awsenv.DynamoDB(cfg), nil)
}
