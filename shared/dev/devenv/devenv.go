// Package devenv starts, on loopback, everything the product depends on — DynamoDB Local (or
// moto_server) for DynamoDB, moto_server for Secrets Manager, a table, a development secret with
// a throw-away PKI, and the Toss simulator — for the local run, `make invoke` and the tests. No
// AWS account is needed.
package devenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/tossgame/migration-server/shared/config"
	"github.com/tossgame/migration-server/shared/dev/ddblocal"
	"github.com/tossgame/migration-server/shared/dev/devcert"
	"github.com/tossgame/migration-server/shared/dev/streams"
	"github.com/tossgame/migration-server/shared/dev/tosssim"
	"github.com/tossgame/migration-server/shared/secrets"
	"github.com/tossgame/migration-server/shared/store"
)

// Region is the region every local client uses (moto accepts any).
const Region = "ap-northeast-2"

// DefaultBasicAuth is the local callback's Basic Auth value.
const DefaultBasicAuth = "local-unlink:local-secret"

// MotoHint is how to get moto_server, for error messages.
const MotoHint = `moto_server not found on PATH nor in .cache/venv: run  make deps  (it installs moto into .cache/venv), ` +
	`or install it with  pip install 'moto[server]'  ` +
	`(or point AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_SECRETS_MANAGER at a running one)`

// Moto is a moto_server (one this package started, or one named by the environment) behind a
// Proxy: clients get the proxy's endpoints. StartBackends makes one whose DynamoDB is DynamoDB
// Local instead (backends.go).
type Moto struct {
	Endpoint string // the DynamoDB endpoint (the proxy)
	Secrets  string // the Secrets Manager endpoint (the proxy)
	Proxy    *Proxy // in front of DynamoDB
	// SecretsProxy is in front of Secrets Manager: the same Proxy unless the environment names
	// two different servers.
	SecretsProxy *Proxy
	cmd          *exec.Cmd
	log          *SyncBuffer
	dynamoDB     DynamoDBSource   // what answers behind Proxy
	ddb          *ddblocal.Server // a DynamoDB Local this Moto started, stopped by Close
}

// StartMoto uses the server named by AWS_ENDPOINT_URL_DYNAMODB (and
// AWS_ENDPOINT_URL_SECRETS_MANAGER) when set, and otherwise starts moto_server on a free loopback
// port. A missing moto_server is an error, never a skip.
func StartMoto(ctx context.Context) (*Moto, error) {
	m := &Moto{}
	ddb, sm := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"), os.Getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER")
	if ddb == "" {
		if err := m.start(ctx); err != nil {
			return nil, err
		}
		ddb, sm = m.Endpoint, m.Endpoint
	}
	if sm == "" {
		sm = ddb
	}
	var err error
	if m.Proxy, err = NewProxy(ddb); err != nil {
		m.Close()
		return nil, err
	}
	m.SecretsProxy = m.Proxy
	if sm != ddb {
		if m.SecretsProxy, err = NewProxy(sm); err != nil {
			m.Close()
			return nil, err
		}
	}
	m.Endpoint, m.Secrets = m.Proxy.URL(), m.SecretsProxy.URL()
	return m, nil
}

func (m *Moto) start(ctx context.Context) error {
	bin, err := motoServer()
	if err != nil {
		return err
	}
	// Another process may take the port between FreePort and moto's bind; then try another.
	for range 3 {
		var port int
		if port, err = FreePort(); err != nil {
			return err
		}
		if err = m.startOn(ctx, bin, port); !errors.Is(err, errPortTaken) {
			return err
		}
	}
	return err
}

var errPortTaken = errors.New("the port was taken before moto_server bound it")

func (m *Moto) startOn(ctx context.Context, bin string, port int) error {
	m.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
	m.log = &SyncBuffer{}
	m.cmd = exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	// Its own process group, killed with us even if we die without cleaning up.
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := m.cmd.Start(); err != nil {
		return fmt.Errorf("start moto_server: %w", err)
	}
	// Any HTTP server on the port answers the health check (DynamoDB Local binds every
	// interface, and then answers DynamoDB calls but not Secrets Manager's): the port is ours
	// only once our moto_server says it runs there.
	bound := "Running on " + m.Endpoint
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := m.log.String()
		if strings.Contains(out, "in use") {
			m.Close()
			return fmt.Errorf("%w: %s", errPortTaken, out)
		}
		if strings.Contains(out, bound) {
			if resp, err := http.Get(m.Endpoint + "/moto-api/"); err == nil {
				resp.Body.Close()
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			m.Close()
			return fmt.Errorf("moto_server did not answer on %s: %s", m.Endpoint, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SyncBuffer collects what several goroutines write (a process's output, a logger's lines)
// while it is read.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Close stops the proxies and a moto_server this package started.
func (m *Moto) Close() {
	if m == nil {
		return
	}
	if m.Proxy != nil {
		m.Proxy.Close()
	}
	if m.SecretsProxy != nil && m.SecretsProxy != m.Proxy {
		m.SecretsProxy.Close()
	}
	if m.cmd != nil && m.cmd.Process != nil {
		_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
		_ = m.cmd.Wait()
	}
	m.ddb.Close()
}

// Environ is what a process needs to reach this moto_server with the AWS SDK.
func (m *Moto) Environ() []string {
	return []string{
		"AWS_ENDPOINT_URL_DYNAMODB=" + m.Endpoint,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + m.Secrets,
		"AWS_ENDPOINT_URL_DYNAMODB_STREAMS=" + m.StreamsEndpoint(),
		"AWS_ENDPOINT_URL_EVENTBRIDGE=" + m.EventsEndpoint(),
		"AWS_ENDPOINT_URL_SQS=" + m.SQSEndpoint(),
		"AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
	}
}

// AWSConfig is an SDK configuration for this moto_server.
func (m *Moto) AWSConfig() aws.Config {
	return aws.Config{Region: Region, Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
}

// DynamoDB returns a client of this moto_server.
func (m *Moto) DynamoDB() *dynamodb.Client {
	return dynamodb.NewFromConfig(m.AWSConfig(), func(o *dynamodb.Options) { o.BaseEndpoint = &m.Endpoint })
}

// SecretsManager returns a client of this moto_server.
func (m *Moto) SecretsManager() *secretsmanager.Client {
	return secretsmanager.NewFromConfig(m.AWSConfig(), func(o *secretsmanager.Options) { o.BaseEndpoint = &m.Secrets })
}

// CreateTable creates the mapping table as template.yaml declares it.
func CreateTable(ctx context.Context, db *dynamodb.Client, name string) error {
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            &name,
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(store.KeyAttribute), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(store.KeyAttribute), KeyType: types.KeyTypeHash}},
		StreamSpecification:  streamSpec(),
	})
	var inUse *types.ResourceInUseException
	if errors.As(err, &inUse) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: &name,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(store.TTLAttribute), Enabled: aws.Bool(true)}})
	return err
}

// streamSpec is the template's StreamSpecification: the events need both images.
func streamSpec() *types.StreamSpecification {
	return &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages}
}

// PutSecret creates (or replaces the value of) a JSON secret and returns its ARN.
func PutSecret(ctx context.Context, sm *secretsmanager.Client, name string, doc secrets.Document) (string, error) {
	raw, _ := json.Marshal(doc)
	s := string(raw)
	out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: &name, SecretString: &s})
	if err == nil {
		return aws.ToString(out.ARN), nil
	}
	var exists *smtypes.ResourceExistsException
	if !errors.As(err, &exists) {
		return "", err
	}
	put, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: &name, SecretString: &s})
	if err != nil {
		return "", err
	}
	return aws.ToString(put.ARN), nil
}

// Stack is a whole local backend: moto_server, a table, a secret, and the Toss simulator.
type Stack struct {
	Moto      *Moto
	Sim       *tosssim.Server
	CA        *devcert.CA
	CAFile    string // the simulator's CA, for TOSS_API_CA_FILE
	Table     string
	SecretID  string
	Key       []byte
	AAD       string
	BasicAuth string
	Doc       secrets.Document
	DB        *dynamodb.Client
	SM        *secretsmanager.Client
	// Events is the local events path (Options.Events), nil without it.
	Events *EventsStack

	ownMoto bool
	dir     string
}

// Options choose addresses and names; the zero value picks free ports and unique names.
type Options struct {
	Moto        *Moto          // share a running moto_server; nil starts (or finds) one
	DynamoDB    DynamoDBSource // when Moto is nil: what answers DynamoDB; default DynamoDB Local
	APIAddr     string         // the simulator's mTLS API; default 127.0.0.1:0
	SandboxAddr string         // the simulator's code minting endpoint; default 127.0.0.1:0
	Table       string
	Secret      string
	BasicAuth   string // default DefaultBasicAuth; use NoBasicAuth for none
	Dir         string // where to write the CA file; default a new temporary folder
	// Events starts the local events path: a bus, a rule to a queue, and the stream poller
	// running functions/events' handler (docs/events.md).
	Events     bool
	EventBus   string                                // the bus's name; default the table's
	WrapEvents func(streams.Handler) streams.Handler // wraps the handler, for fault tests
	EventsLog  *slog.Logger                          // the poller's and handler's log; default slog.Default()
}

// NoBasicAuth asks for a secret without an unlinkBasicAuth value.
const NoBasicAuth = "\x00none"

// Start brings the stack up.
func Start(ctx context.Context, opt Options) (*Stack, error) {
	s := &Stack{Moto: opt.Moto}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	if s.Moto == nil {
		m, err := StartBackends(ctx, opt.DynamoDB)
		if err != nil {
			return nil, err
		}
		s.Moto, s.ownMoto = m, true
	}
	s.DB, s.SM = s.Moto.DynamoDB(), s.Moto.SecretsManager()
	s.Table = or(opt.Table, "toss-migration-"+Unique())
	if err := CreateTable(ctx, s.DB, s.Table); err != nil {
		return nil, fmt.Errorf("create table: %w", err)
	}

	var err error
	if s.CA, err = devcert.NewCA("Local Toss simulator CA"); err != nil {
		return nil, err
	}
	srvCert, srvKey, err := s.CA.Issue("localhost", []string{"localhost", "127.0.0.1", "::1"}, false)
	if err != nil {
		return nil, err
	}
	cliCert, cliKey, err := s.CA.Issue("partner-client", nil, true)
	if err != nil {
		return nil, err
	}
	s.Key = make([]byte, 32)
	rand.Read(s.Key)
	s.AAD = "LOCAL_AAD_" + Unique()
	s.BasicAuth = or(opt.BasicAuth, DefaultBasicAuth)
	if s.BasicAuth == NoBasicAuth {
		s.BasicAuth = ""
	}
	s.Doc = secrets.Document{
		DecryptionKey:   base64.StdEncoding.EncodeToString(s.Key),
		AAD:             s.AAD,
		MTLSCertificate: string(cliCert),
		MTLSPrivateKey:  string(cliKey),
		UnlinkBasicAuth: s.BasicAuth,
	}
	if s.SecretID, err = PutSecret(ctx, s.SM, or(opt.Secret, "toss-migration/"+Unique()), s.Doc); err != nil {
		return nil, fmt.Errorf("create secret: %w", err)
	}

	if s.Sim, err = tosssim.New(tosssim.Config{Key: s.Key, AAD: s.AAD, ClientCAs: s.CA.Pool(),
		ServerCertPEM: srvCert, ServerKeyPEM: srvKey}); err != nil {
		return nil, err
	}
	if err := s.Sim.Start(or(opt.APIAddr, "127.0.0.1:0"), or(opt.SandboxAddr, "127.0.0.1:0")); err != nil {
		return nil, fmt.Errorf("start Toss simulator: %w", err)
	}

	s.dir = opt.Dir
	if s.dir == "" {
		if s.dir, err = os.MkdirTemp("", "toss-migration-"); err != nil {
			return nil, err
		}
	}
	s.CAFile = filepath.Join(s.dir, "toss-simulator-ca.pem")
	if err := os.WriteFile(s.CAFile, s.CA.CertPEM(), 0o600); err != nil {
		return nil, err
	}
	if opt.Events {
		log := opt.EventsLog
		if log == nil {
			log = slog.Default()
		}
		if err := s.startEvents(ctx, opt, log); err != nil {
			return nil, fmt.Errorf("start the events path: %w", err)
		}
	}
	ok = true
	return s, nil
}

// Config is the configuration that points the handlers at this stack.
func (s *Stack) Config() config.Config {
	c, err := config.FromEnv(s.Getenv, config.TableAndSecret)
	if err != nil {
		panic(err) // every value is ours
	}
	c.TossRoots = s.CA.Pool()
	return c
}

// Getenv answers the function settings of this stack, as a Lambda function's environment would.
func (s *Stack) Getenv(name string) string {
	for _, kv := range s.Environ() {
		if k, v, _ := strings.Cut(kv, "="); k == name {
			return v
		}
	}
	return ""
}

// Environ is the environment of a function process (the bootstrap binary) using this stack.
func (s *Stack) Environ() []string {
	env := s.Moto.Environ()
	if s.Events != nil {
		env = append(env, "EVENT_BUS_NAME="+s.Events.Bus)
	}
	return append(env,
		"TABLE_NAME="+s.Table,
		"SECRET_ID="+s.SecretID,
		"TOSS_API_BASE_URL="+s.Sim.APIURL(),
		"TOSS_API_CA_FILE="+s.CAFile,
		// The dev stack's links come from the simulator's sandbox (referrer SANDBOX).
		"ALLOW_SANDBOX_LINKS=true",
		// What Lambda sets for the template's LoggingConfig: JSON logs at INFO.
		"AWS_LAMBDA_LOG_FORMAT=JSON",
		"AWS_LAMBDA_LOG_LEVEL=INFO",
	)
}

// Close stops what Start started.
func (s *Stack) Close() {
	s.Events.Close()
	if s.Sim != nil {
		s.Sim.Close()
	}
	if s.ownMoto {
		s.Moto.Close()
	}
}

// Unique returns a short random name part.
func Unique() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// FreePort asks the kernel for a free loopback port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
