package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"

	"github.com/tossgame/migration-server/shared/dev/localstate"
	"github.com/tossgame/migration-server/shared/store"
)

// globals are the flags every command takes: where the table is, and how to print.
type globals struct {
	table, stack, region, profile, endpoint string
	local, json                             bool
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.table, "table", g.table, "the mapping table's `name`")
	fs.StringVar(&g.stack, "stack", g.stack, "the CloudFormation stack (`name`) whose outputs name the table")
	fs.BoolVar(&g.local, "local", g.local, "use the stack `make run` is serving (no AWS account)")
	fs.StringVar(&g.region, "region", g.region, "AWS `region` (default: the SDK's chain, e.g. AWS_REGION or the profile's)")
	fs.StringVar(&g.profile, "profile", g.profile, "shared config `profile` (default: AWS_PROFILE, else default)")
	fs.StringVar(&g.endpoint, "dynamodb-endpoint", g.endpoint, "DynamoDB endpoint `URL` (e.g. DynamoDB Local); AWS_ENDPOINT_URL_DYNAMODB works too")
	fs.BoolVar(&g.json, "json", g.json, "print JSON instead of text")
}

func (g *globals) check() error {
	n := 0
	for _, set := range []bool{g.table != "", g.stack != "", g.local} {
		if set {
			n++
		}
	}
	if n > 1 {
		return usagef("--table, --stack and --local each name the target: give one")
	}
	if g.local && (g.region != "" || g.profile != "") {
		return usagef("--local uses the local stack's region and test credentials: drop --region and --profile")
	}
	return nil
}

// retryAttempts is the SDK's attempts per call: a long scan or a batch of reads should ride out
// throttling rather than stop half way (the SDK's default is 3; more would leave a wrong endpoint
// unreported for a minute).
const retryAttempts = 5

// app is one invocation: the flags, and the clients built from them on first use.
type app struct {
	g        globals
	sys      sys
	exitCode int // set by a command that ran but found faults (check)

	cfgOnce sync.Once
	cfg     aws.Config
	cfgErr  error
	state   *localstate.State
}

// localState reads the state file `make run` writes.
func (a *app) localState() (localstate.State, error) {
	if a.state != nil {
		return *a.state, nil
	}
	path, err := localstate.Path(a.sys.getenv)
	if err != nil {
		return localstate.State{}, err
	}
	s, err := localstate.Read(path)
	if err != nil {
		return localstate.State{}, fmt.Errorf("--local: %w", err)
	}
	a.state = &s
	return s, nil
}

// awsConfig is the SDK configuration: the standard chain (environment, shared files, SSO, IMDS),
// or, with --local, the local stack's region and moto's test credentials.
func (a *app) awsConfig(ctx context.Context) (aws.Config, error) {
	a.cfgOnce.Do(func() {
		if a.g.local {
			s, err := a.localState()
			if err != nil {
				a.cfgErr = err
				return
			}
			a.cfg = aws.Config{Region: s.Region, Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
				RetryMaxAttempts: retryAttempts}
			return
		}
		// The SDK's own log lines (IMDS fallbacks, retries) would break the one-line error.
		opts := []func(*config.LoadOptions) error{config.WithLogger(logging.Nop{}), config.WithRetryMaxAttempts(retryAttempts)}
		if a.g.region != "" {
			opts = append(opts, config.WithRegion(a.g.region))
		}
		if a.g.profile != "" {
			opts = append(opts, config.WithSharedConfigProfile(a.g.profile))
		}
		opts = append(opts, a.sys.awsOptions...)
		cfg, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			a.cfgErr = fmt.Errorf("AWS configuration: %w", err)
			return
		}
		if cfg.Region == "" {
			a.cfgErr = errors.New("no AWS region: pass --region or set AWS_REGION (or a region in the profile)")
			return
		}
		// Fail here, once and clearly, rather than in the middle of the first call.
		if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
			a.cfgErr = &credentialsError{err}
			return
		}
		a.cfg = cfg
	})
	return a.cfg, a.cfgErr
}

func (a *app) dynamo(ctx context.Context) (*dynamodb.Client, error) {
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	endpoint := a.g.endpoint
	if a.g.local {
		s, _ := a.localState()
		endpoint = s.DynamoDB
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = &endpoint
		}
	}), nil
}

func (a *app) secretsManager(ctx context.Context) (*secretsmanager.Client, error) {
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	var endpoint string
	if a.g.local {
		s, _ := a.localState()
		endpoint = s.SecretsManager
	}
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		if endpoint != "" {
			o.BaseEndpoint = &endpoint
		}
	}), nil
}

func (a *app) sqs(ctx context.Context, endpoint string) (*sqs.Client, error) {
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = &endpoint }), nil
}

// needTarget refuses a command without a table to work on.
func (a *app) needTarget() error {
	if a.g.table == "" && a.g.stack == "" && !a.g.local {
		return usagef("which table? give --table NAME, --stack NAME (its TableName output) or --local")
	}
	return nil
}

// tableName resolves --table, --local or --stack.
func (a *app) tableName(ctx context.Context) (string, error) {
	switch {
	case a.g.table != "":
		return a.g.table, nil
	case a.g.local:
		s, err := a.localState()
		return s.Table, err
	default:
		out, err := a.stackOutputs(ctx)
		if err != nil {
			return "", err
		}
		name := out["TableName"]
		if name == "" {
			return "", fmt.Errorf("stack %q has no TableName output: is it this product's stack?", a.g.stack)
		}
		return name, nil
	}
}

// admin opens the table and makes sure it exists before anything is read or written, so that a
// wrong name fails with one line and nothing else happens.
func (a *app) admin(ctx context.Context) (*store.Admin, store.TableInfo, error) {
	if err := a.needTarget(); err != nil {
		return nil, store.TableInfo{}, err
	}
	name, err := a.tableName(ctx)
	if err != nil {
		return nil, store.TableInfo{}, err
	}
	db, err := a.dynamo(ctx)
	if err != nil {
		return nil, store.TableInfo{}, err
	}
	adm := store.NewAdmin(db, name)
	info, err := adm.Describe(ctx)
	var missing *types.ResourceNotFoundException
	if errors.As(err, &missing) {
		return nil, info, fmt.Errorf("table %q not found in %s", name, a.where())
	}
	if err != nil {
		return nil, info, err
	}
	return adm, info, nil
}

// where names the region (and endpoint) being talked to, for error messages.
func (a *app) where() string {
	if a.g.local {
		s, _ := a.localState()
		return "the local stack (" + s.DynamoDB + ")"
	}
	w := "region " + a.cfg.Region
	if a.g.endpoint != "" {
		w += " at " + a.g.endpoint
	}
	return w
}

func (a *app) stackOutputs(ctx context.Context) (map[string]string, error) {
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	out, err := cloudformation.NewFromConfig(cfg).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: &a.g.stack})
	if err != nil {
		if isCode(err, "ValidationError") {
			return nil, fmt.Errorf("stack %q not found in region %s", a.g.stack, cfg.Region)
		}
		return nil, fmt.Errorf("describe stack %q: %w", a.g.stack, err)
	}
	if len(out.Stacks) == 0 {
		return nil, fmt.Errorf("stack %q not found in region %s", a.g.stack, cfg.Region)
	}
	m := map[string]string{}
	for _, o := range out.Stacks[0].Outputs {
		m[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	return m, nil
}

// linkFunctionEnv is the environment of the stack's link function: what it reads its secret
// and Toss's address from.
func (a *app) linkFunctionEnv(ctx context.Context) (map[string]string, error) {
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	res, err := cloudformation.NewFromConfig(cfg).DescribeStackResource(ctx, &cloudformation.DescribeStackResourceInput{
		StackName: &a.g.stack, LogicalResourceId: aws.String("LinkFunction"),
	})
	if err != nil {
		if isCode(err, "ValidationError") {
			return nil, fmt.Errorf("stack %q (region %s) not found, or it has no LinkFunction", a.g.stack, cfg.Region)
		}
		return nil, fmt.Errorf("describe stack %q: %w", a.g.stack, err)
	}
	fn := aws.ToString(res.StackResourceDetail.PhysicalResourceId)
	out, err := lambda.NewFromConfig(cfg).GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: &fn})
	if err != nil {
		return nil, fmt.Errorf("read the link function's configuration: %w", err)
	}
	if out.Environment == nil {
		return map[string]string{}, nil
	}
	return out.Environment.Variables, nil
}

// operator is who applies a fix: the caller's IAM identity, or --operator against the local
// stack (moto's STS would name a fake account).
func (a *app) operator(ctx context.Context, flagged string) (string, error) {
	if a.g.local {
		if flagged != "" {
			return flagged, nil
		}
		user := a.sys.getenv("USER")
		if user == "" {
			user = "operator"
		}
		return "local:" + user, nil
	}
	if flagged != "" {
		return "", usagef("--operator is for --local only: against AWS the operator is the caller's IAM identity")
	}
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return "", err
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("who is the operator (sts:GetCallerIdentity): %w", err)
	}
	return aws.ToString(out.Arn), nil
}
