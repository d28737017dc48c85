// Command status is the Lambda function behind POST /api/auth/migration/status. It never reads
// the secret, so it does not link the Secrets Manager client.
package main

import (
	"context"
	"os"

	"github.com/tossgame/migration-server/shared/awsenv"
	"github.com/tossgame/migration-server/shared/config"
	"github.com/tossgame/migration-server/shared/httpapi"
	"github.com/tossgame/migration-server/shared/lambdarun"
	"github.com/tossgame/migration-server/shared/migration"
	"github.com/tossgame/migration-server/shared/store"
)

func main() {
	log := lambdarun.Logger()
	cfg, err := config.FromEnv(os.Getenv, config.Table)
	lambdarun.Check(err)
	aws, err := awsenv.Load(context.Background())
	lambdarun.Check(err)

	svc := &migration.Service{Store: store.New(awsenv.DynamoDB(aws), cfg.Table), Log: log}
	lambdarun.Start(httpapi.Status(svc, httpapi.Options{Log: log, Namespace: cfg.MetricsNamespace}))
}
