// Command dynamodb is the bare status function: the one client functions/status builds (DynamoDB,
// configured by awsenv.Load) and its calls, nothing else.
package main

import (
	"context"
	"log"

	"github.com/tossgame/migration-server/cmd/bench/barefn"
	"github.com/tossgame/migration-server/shared/awsenv"
)

func main() {
	cfg, err := awsenv.Load(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	barefn.Serve(awsenv.DynamoDB(cfg), nil)
}
