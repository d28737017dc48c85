// Command secrets is the bare link and unlink function: the two clients functions/link and
// functions/unlink build (DynamoDB and Secrets Manager, configured by awsenv.Load) and their calls.
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/tossgame/migration-server/cmd/bench/barefn"
	"github.com/tossgame/migration-server/shared/awsenv"
)

func main() {
	cfg, err := awsenv.Load(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	// As secrets.NewClient builds it (package secrets itself is ours, so it is not imported).
	sm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		if ep := os.Getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER"); ep != "" {
			o.BaseEndpoint = &ep
		}
	})
	id := os.Getenv("SECRET_ID")
	barefn.Serve(awsenv.DynamoDB(cfg), func(ctx context.Context) error {
		_, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &id})
		return err
	})
}
