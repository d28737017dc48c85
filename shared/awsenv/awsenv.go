// Package awsenv builds the AWS SDK configuration and the DynamoDB client a function uses, from
// the environment Lambda provides. The Secrets Manager client is built in package secrets, so a
// function that never reads the secret (status) does not link it.
package awsenv

import (
	"context"
	"errors"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Load builds the SDK configuration from the environment Lambda provides: region and credentials
// in variables. It skips config.LoadDefaultConfig, whose shared-file, SSO, STS and IMDS providers
// a Lambda function never uses and which cost 1–2 ms of a cold start and 1.9 MiB
// (docs/performance.md; the bench measures both). AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE> are honoured as the SDK documents, so moto_server or DynamoDB Local
// work.
func Load(context.Context) (aws.Config, error) {
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = os.Getenv("AWS_DEFAULT_REGION")
	}
	if region == "" {
		return aws.Config{}, errors.New("AWS_REGION is not set")
	}
	id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		return aws.Config{}, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (Lambda sets them from the function's role)")
	}
	cfg := aws.Config{
		Region:      region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, secret, os.Getenv("AWS_SESSION_TOKEN"))),
	}
	if ep := os.Getenv("AWS_ENDPOINT_URL"); ep != "" {
		cfg.BaseEndpoint = &ep
	}
	return cfg, nil
}

// DynamoDB builds the DynamoDB client, honouring AWS_ENDPOINT_URL_DYNAMODB.
func DynamoDB(cfg aws.Config) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if ep := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"); ep != "" {
			o.BaseEndpoint = &ep
		}
	})
}
