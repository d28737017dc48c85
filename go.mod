module github.com/tossgame/migration-server

go 1.26.0

require (
	github.com/aws/aws-lambda-go v1.55.1
	github.com/aws/aws-sdk-go-v2 v1.47.7
	github.com/aws/aws-sdk-go-v2/credentials v1.20.15
	// dynamodb v1.69.0 and secretsmanager v1.50.0 switched to schema-based serialisation, whose
	// package init costs ~1 ms of every cold start and ~0.55 MiB per binary (bench/results.md).
	// These are the last releases before it (2026-09-09); the changes since are features these
	// functions do not call and fixes to the schema code. Core modules stay current.
	github.com/aws/aws-sdk-go-v2/service/dynamodb v1.68.0
	github.com/aws/aws-sdk-go-v2/service/secretsmanager v1.49.0
)

// The events path. eventbridge (linked by functions/events) is its last release before
// schema-based serialisation (v1.49.0), for the reason above; dynamodbstreams and sqs are dev-only
// (the local poller and queue), pinned to releases that need no newer core module.
require (
	github.com/aws/aws-sdk-go-v2/service/dynamodbstreams v1.44.0
	github.com/aws/aws-sdk-go-v2/service/eventbridge v1.48.7
	github.com/aws/aws-sdk-go-v2/service/sqs v1.48.1
)

require (
	github.com/aws/aws-sdk-go-v2/internal/configsources v1.5.10 // indirect
	github.com/aws/aws-sdk-go-v2/internal/endpoints/v2 v2.8.10 // indirect
	github.com/aws/aws-sdk-go-v2/internal/v4a v1.5.10 // indirect
	github.com/aws/aws-sdk-go-v2/service/internal/accept-encoding v1.13.24 // indirect
	github.com/aws/aws-sdk-go-v2/service/internal/endpoint-discovery v1.13.10 // indirect
	github.com/aws/smithy-go v1.28.8 // indirect
)
