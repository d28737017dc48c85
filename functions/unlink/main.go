// Command unlink is the Lambda function behind Toss's unlink callback (GET and POST
// /api/auth/toss/unlink).
package main

import (
	"context"
	"os"

	"github.com/tossgame/migration-server/shared/awsenv"
	"github.com/tossgame/migration-server/shared/config"
	"github.com/tossgame/migration-server/shared/httpapi"
	"github.com/tossgame/migration-server/shared/lambdarun"
	"github.com/tossgame/migration-server/shared/metrics"
	"github.com/tossgame/migration-server/shared/migration"
	"github.com/tossgame/migration-server/shared/secrets"
	"github.com/tossgame/migration-server/shared/store"
)

func main() {
	log := lambdarun.Logger()
	cfg, err := config.FromEnv(os.Getenv, config.TableAndSecret)
	lambdarun.Check(err)
	aws, err := awsenv.Load(context.Background())
	lambdarun.Check(err)

	secret := secrets.NewCache(secrets.NewClient(aws), cfg.SecretID, cfg.SecretTTL, secrets.ParseUnlink, log)
	secret.OnFetch = func(ctx context.Context, f secrets.Fetch) { metrics.SecretFetchOutcome(ctx, "unlink", f.Outcome) }
	db := store.New(awsenv.DynamoDB(aws), cfg.Table, store.WithTombstoneTTL(cfg.TombstoneTTL))
	svc := &migration.Service{Store: db, Log: log}
	lambdarun.Start(httpapi.Unlink(svc, secrets.BasicAuth(secret), httpapi.Options{Log: log, Namespace: cfg.MetricsNamespace}))
}
