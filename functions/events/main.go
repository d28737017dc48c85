// Command events is the Lambda function on the mapping table's DynamoDB stream: it turns each
// committed link and unlink into the studio's event on the EventBridge bus (docs/events.md),
// reporting partial batch failures so that Lambda retries from the first record not published.
package main

import (
	"context"
	"os"

	"github.com/tossgame/migration-server/shared/awsenv"
	"github.com/tossgame/migration-server/shared/config"
	"github.com/tossgame/migration-server/shared/lambdarun"
	"github.com/tossgame/migration-server/shared/publish"
)

func main() {
	log := lambdarun.Logger()
	cfg, err := config.FromEnv(os.Getenv, config.EventBus)
	lambdarun.Check(err)
	aws, err := awsenv.Load(context.Background())
	lambdarun.Check(err)

	p := &publish.Publisher{EventBridge: publish.NewClient(aws), Bus: cfg.EventBus, Log: log, Namespace: cfg.MetricsNamespace}
	lambdarun.Start(p.Handle)
}
