package devenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/tossgame/migration-server/shared/dev/ddblocal"
)

// DynamoDBSource is the server that answers DynamoDB in a stack.
type DynamoDBSource string

const (
	// DynamoDBDefault is DynamoDBLocal, unless the environment variable EnvDynamoDB says moto.
	DynamoDBDefault DynamoDBSource = ""
	// DynamoDBLocal is Amazon's DynamoDB Local (shared/dev/ddblocal): the real engine, safe
	// under concurrent requests, behind a Proxy that injects faults and counts calls but lets
	// requests through at once.
	DynamoDBLocal DynamoDBSource = "local"
	// DynamoDBMoto is moto_server, behind the serialising Proxy (moto's transactions are not
	// safe concurrently): for whatever DynamoDB Local lacks.
	DynamoDBMoto DynamoDBSource = "moto"
)

// EnvDynamoDB chooses the default DynamoDB server: "local" (the default) or "moto".
const EnvDynamoDB = "DEVENV_DYNAMODB"

func (src DynamoDBSource) resolve() (DynamoDBSource, error) {
	if src == DynamoDBDefault {
		src = DynamoDBSource(os.Getenv(EnvDynamoDB))
	}
	switch src {
	case DynamoDBDefault, DynamoDBLocal:
		return DynamoDBLocal, nil
	case DynamoDBMoto:
		return DynamoDBMoto, nil
	}
	return "", fmt.Errorf("devenv: DynamoDB source %q: want %q or %q (%s)", src, DynamoDBLocal, DynamoDBMoto, EnvDynamoDB)
}

// DynamoDBServer says what answers DynamoDB behind m.Proxy.
func (m *Moto) DynamoDBServer() DynamoDBSource {
	if m.dynamoDB == DynamoDBDefault {
		return DynamoDBMoto // a Moto built by StartMoto, or by hand
	}
	return m.dynamoDB
}

// StartBackends starts (or finds) the servers a stack needs: Secrets Manager from moto_server
// (or AWS_ENDPOINT_URL_SECRETS_MANAGER), DynamoDB from src. AWS_ENDPOINT_URL_DYNAMODB, when
// set, names the DynamoDB server whatever src says, and is treated as moto (serialised).
func StartBackends(ctx context.Context, src DynamoDBSource) (*Moto, error) {
	return startBackends(ctx, src, nil)
}

// startBackends uses ddb for DynamoDB Local when given (not stopped by Close), or starts one.
func startBackends(ctx context.Context, src DynamoDBSource, ddb *ddblocal.Server) (*Moto, error) {
	src, err := src.resolve()
	if err != nil {
		return nil, err
	}
	if src == DynamoDBMoto || os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") != "" {
		m, err := StartMoto(ctx)
		if m != nil {
			m.dynamoDB = DynamoDBMoto
		}
		return m, err
	}
	m := &Moto{dynamoDB: DynamoDBLocal}
	sm := os.Getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER")
	// The two start side by side: the JVM takes seconds, moto about one.
	var wg sync.WaitGroup
	var motoErr, ddbErr error
	if sm == "" {
		wg.Add(1)
		go func() { defer wg.Done(); motoErr = m.start(ctx) }()
	}
	if ddb == nil {
		wg.Add(1)
		go func() { defer wg.Done(); m.ddb, ddbErr = ddblocal.Start(ctx); ddb = m.ddb }()
	}
	wg.Wait()
	if err := errors.Join(motoErr, ddbErr); err != nil {
		m.Close()
		return nil, err
	}
	if sm == "" {
		sm = m.Endpoint
	}
	if m.Proxy, err = NewConcurrentProxy(ddb.Endpoint); err != nil {
		m.Close()
		return nil, err
	}
	if m.SecretsProxy, err = NewProxy(sm); err != nil {
		m.Close()
		return nil, err
	}
	m.Endpoint, m.Secrets = m.Proxy.URL(), m.SecretsProxy.URL()
	return m, nil
}

// motoServer finds moto_server on PATH, else in the project's virtualenv (.cache/venv), where
// `make deps` installs moto when the machine has none.
func motoServer() (string, error) {
	if bin, err := exec.LookPath("moto_server"); err == nil {
		return bin, nil
	}
	if cache, ok := ddblocal.ProjectCache(); ok {
		bin := filepath.Join(cache, "venv", "bin", "moto_server")
		if fi, err := os.Stat(bin); err == nil && fi.Mode()&0o111 != 0 {
			return bin, nil
		}
	}
	return "", errors.New(MotoHint)
}
