// Command certcheck is the Lambda function EventBridge runs daily and after each deploy: it reads
// the secret and publishes CertificateDaysLeft for each mTLS certificate in it, so that the expiry
// alarms have a value every day, whether or not players link.
package main

import (
	"context"
	"os"

	"github.com/tossgame/migration-server/shared/awsenv"
	"github.com/tossgame/migration-server/shared/certcheck"
	"github.com/tossgame/migration-server/shared/config"
	"github.com/tossgame/migration-server/shared/lambdarun"
	"github.com/tossgame/migration-server/shared/secrets"
)

func main() {
	log := lambdarun.Logger()
	cfg, err := config.FromEnv(os.Getenv, config.Secret)
	lambdarun.Check(err)
	aws, err := awsenv.Load(context.Background())
	lambdarun.Check(err)

	// TTL 0: every check reads the secret as it is now, and counts the fetch.
	source := certcheck.Metered(secrets.NewClient(aws), certcheck.Function)
	secret := secrets.NewCache(source, cfg.SecretID, 0, secrets.ParseLink, log)
	lambdarun.Start(certcheck.Handler(secret.Get, certcheck.Options{Log: log, Namespace: cfg.MetricsNamespace}))
}
