// Package tosssim is an in-process simulator of the Apps-in-Toss partner API (generate-token,
// login-me, remove-by-user-key, remove-by-access-token, anon-key verify) behind mTLS, plus a
// plain-HTTP sandbox that mints authorization codes the way appLogin() does and tells whether a
// user's Toss login is integrated (getIsTossLoginIntegratedService()). It owns the simulated users, codes and
// tokens, and fails the way Toss fails (docs/spec contract §3): bare invalid_grant for spent,
// expired or mismatched codes, FAIL envelopes, and switchable faults for the ambiguous cases.
package tosssim

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"
)

// Defaults from the Toss documentation: a code lives 10 minutes, an access token 1 hour.
const (
	DefaultCodeTTL  = 10 * time.Minute
	DefaultTokenTTL = time.Hour
)

// Config sets up a Server. Key is required; ClientCAs and the server certificate are required
// only by Start, so that APIHandler can be embedded without them.
type Config struct {
	Key           []byte         // 32-byte AES-256 key for the login-me fields
	AAD           string         // additional authenticated data, as e-mailed by the console
	ClientCAs     *x509.CertPool // CAs whose client certificates the API listener accepts
	ServerCertPEM []byte         // API listener certificate (PEM)
	ServerKeyPEM  []byte         // API listener private key (PEM)
	CodeTTL       time.Duration  // authorization code lifetime; 0 means DefaultCodeTTL
	TokenTTL      time.Duration  // access token lifetime; 0 means DefaultTokenTTL
	Now           func() time.Time
}

// User is a Toss user as the simulator stores it: plaintext, encrypted only on the way out.
type User struct {
	UserKey     int64
	Name        string
	Phone       string
	Birthday    string // yyyyMMdd
	CI          string
	Gender      string // MALE or FEMALE
	Nationality string // LOCAL or FOREIGNER
	Email       *string
}

type userState struct {
	User
	removed    bool // left Toss: login-me answers USER_NOT_FOUND
	integrated bool // agreed to Toss login (a code was exchanged), not disconnected since
}

// grant is what an authorization code or an access token stands for.
type grant struct {
	userKey  int64
	referrer string // codes only
	expires  time.Time
}

// Server is the simulator. It is safe for concurrent use.
type Server struct {
	cfg      Config
	now      func() time.Time
	badKey   []byte // for FaultBadCiphertext
	tlsCert  *tls.Certificate
	api      http.Handler
	sandbox  http.Handler
	done     chan struct{} // closed by Close, releases hung FaultTimeout handlers
	closeOne sync.Once

	mu           sync.Mutex
	users        map[int64]*userState
	codes        map[string]grant
	tokens       map[string]grant
	issued       []string // every access and refresh token handed out, for log-hygiene tests
	hashes       map[string]struct{}
	faults       [numEndpoints]Fault
	calls        [numEndpoints]int
	handshakes   int
	tokenAnswers int // successful generate-token answers, to rotate their shape
	loginAnswers int // successful login-me answers, to rotate their shape
	verdicts     int // anon-key/verify refusals, to rotate their status
	revoked      map[[32]byte]bool
	presented    map[[32]byte]int // verified handshakes by client certificate fingerprint
	started      bool
	closed       bool
	apiLn        net.Listener
	sandboxLn    net.Listener
	servers      []*http.Server
}

// New checks cfg and returns a Server that is not yet listening.
func New(cfg Config) (*Server, error) {
	if len(cfg.Key) != keySize {
		return nil, fmt.Errorf("tosssim: Key is %d bytes, want %d", len(cfg.Key), keySize)
	}
	cfg.Key = append([]byte(nil), cfg.Key...)
	if cfg.CodeTTL <= 0 {
		cfg.CodeTTL = DefaultCodeTTL
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		cfg:    cfg,
		now:    cfg.Now,
		done:   make(chan struct{}),
		users:  make(map[int64]*userState),
		codes:  make(map[string]grant),
		tokens: make(map[string]grant),
		hashes: make(map[string]struct{}),

		revoked:   make(map[[32]byte]bool),
		presented: make(map[[32]byte]int),
	}
	// Any other 32 bytes make the tag check fail; deriving them keeps the simulator stateless.
	bad := sha256.Sum256(append([]byte("tosssim wrong key:"), cfg.Key...))
	s.badKey = bad[:]
	if len(cfg.ServerCertPEM) > 0 || len(cfg.ServerKeyPEM) > 0 {
		pair, err := tls.X509KeyPair(cfg.ServerCertPEM, cfg.ServerKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("tosssim: server certificate: %w", err)
		}
		s.tlsCert = &pair
	}
	s.api = http.HandlerFunc(s.serveAPI)
	s.sandbox = http.HandlerFunc(s.serveSandbox)
	return s, nil
}

// APIHandler serves the partner API without TLS, for embedding; it does not check client
// certificates, so only Start's listener behaves like Toss at the handshake.
func (s *Server) APIHandler() http.Handler { return s.api }

// SandboxHandler serves the sandbox routes, for embedding.
func (s *Server) SandboxHandler() http.Handler { return s.sandbox }

// Start listens on apiAddr (HTTPS, client certificate required and verified against
// ClientCAs, as Toss does) and on sandboxAddr (plain HTTP; "" skips it). Use "127.0.0.1:0"
// in tests. A Server starts at most once.
func (s *Server) Start(apiAddr, sandboxAddr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return errors.New("tosssim: Start after Close")
	case s.started:
		return errors.New("tosssim: already started")
	case s.tlsCert == nil:
		return errors.New("tosssim: Start needs ServerCertPEM and ServerKeyPEM")
	case s.cfg.ClientCAs == nil:
		// A nil pool would make crypto/tls fall back to nothing sensible; refuse instead.
		return errors.New("tosssim: Start needs ClientCAs")
	}
	tlsConf := &tls.Config{
		Certificates: []tls.Certificate{*s.tlsCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    s.cfg.ClientCAs,
		MinVersion:   tls.VersionTLS12,
		// Runs once per handshake that passed certificate verification, resumptions included,
		// so the count shows whether a client reuses its connections. A certificate removed
		// from the console (Revoke) is refused here: Go's server then sends bad_certificate.
		VerifyConnection: func(cs tls.ConnectionState) error {
			var fp [32]byte
			if len(cs.PeerCertificates) > 0 {
				fp = sha256.Sum256(cs.PeerCertificates[0].Raw)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.revoked[fp] {
				return errors.New("tosssim: client certificate removed from the console")
			}
			s.handshakes++
			s.presented[fp]++
			return nil
		},
	}
	apiLn, err := net.Listen("tcp", apiAddr)
	if err != nil {
		return fmt.Errorf("tosssim: listen API: %w", err)
	}
	var sandboxLn net.Listener
	if sandboxAddr != "" {
		if sandboxLn, err = net.Listen("tcp", sandboxAddr); err != nil {
			apiLn.Close()
			return fmt.Errorf("tosssim: listen sandbox: %w", err)
		}
	}
	// Failed handshakes are expected (that is what the tests provoke): keep them off stderr.
	quiet := log.New(io.Discard, "", 0)
	apiSrv := &http.Server{Handler: s.api, TLSConfig: tlsConf, ErrorLog: quiet, ReadHeaderTimeout: 10 * time.Second}
	go apiSrv.ServeTLS(apiLn, "", "")
	s.servers = append(s.servers, apiSrv)
	if sandboxLn != nil {
		sbSrv := &http.Server{Handler: s.sandbox, ErrorLog: quiet, ReadHeaderTimeout: 10 * time.Second}
		go sbSrv.Serve(sandboxLn)
		s.servers = append(s.servers, sbSrv)
	}
	s.apiLn, s.sandboxLn, s.started = apiLn, sandboxLn, true
	return nil
}

// APIURL is the partner API base URL, e.g. https://127.0.0.1:PORT; "" before Start.
func (s *Server) APIURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return baseURL("https", s.apiLn)
}

// SandboxURL is the sandbox base URL, e.g. http://127.0.0.1:PORT; "" if not listening.
func (s *Server) SandboxURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return baseURL("http", s.sandboxLn)
}

func baseURL(scheme string, ln net.Listener) string {
	if ln == nil {
		return ""
	}
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1" // a wildcard address is not something a client can dial by name
	}
	return fmt.Sprintf("%s://%s", scheme, net.JoinHostPort(host, fmt.Sprint(addr.Port)))
}

// Close stops both listeners, drops open connections and releases requests hung by
// FaultTimeout. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	servers := s.servers
	s.servers = nil
	s.mu.Unlock()
	var errs []error
	for _, srv := range servers {
		errs = append(errs, srv.Close())
	}
	// After the connections are gone, so a released handler has nobody to answer.
	s.closeOne.Do(func() { close(s.done) })
	return errors.Join(errs...)
}

// Authorize registers u (replacing any stored profile, and bringing back a removed user) and
// mints a fresh single-use authorization code bound to referrer ("" means DEFAULT), as
// appLogin() does in the Toss app.
func (s *Server) Authorize(u User, referrer string) string {
	if referrer == "" {
		referrer = "DEFAULT"
	}
	if u.Email != nil {
		email := *u.Email
		u.Email = &email // the caller's string must not change under us
	}
	code := randomString(24)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &userState{User: u}
	if old := s.users[u.UserKey]; old != nil {
		st.integrated = old.integrated // a new login of a user who already agreed
	}
	s.users[u.UserKey] = st
	s.codes[code] = grant{userKey: u.UserKey, referrer: referrer, expires: s.now().Add(s.cfg.CodeTTL)}
	return code
}

// RemoveUser makes the user leave Toss: their tokens stay, but login-me answers FAIL
// USER_NOT_FOUND until Authorize registers them again.
func (s *Server) RemoveUser(userKey int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[userKey]; ok {
		u.removed = true
	}
}

// Integrated reports what getIsTossLoginIntegratedService() would answer for the user: true
// once a code of theirs was exchanged, false again after remove-by-access-token or
// remove-by-user-key (and for a user never seen).
func (s *Server) Integrated(userKey int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userKey]
	return u != nil && u.integrated && !u.removed
}

// Revoke makes the API listener refuse the client certificate certPEM at the handshake, as
// Toss does once the certificate is deleted from the console.
func (s *Server) Revoke(certPEM []byte) error {
	fp, err := Fingerprint(certPEM)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[fp] = true
	return nil
}

// Presented counts the verified handshakes made with the client certificate certPEM since the
// last reset: which of a partner's pairs it is using.
func (s *Server) Presented(certPEM []byte) int {
	fp, err := Fingerprint(certPEM)
	if err != nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.presented[fp]
}

// Fingerprint is the SHA-256 of a PEM certificate's DER.
func Fingerprint(certPEM []byte) ([32]byte, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return [32]byte{}, errors.New("tosssim: not a PEM certificate")
	}
	return sha256.Sum256(block.Bytes), nil
}

// RegisterHash makes anon-key/verify accept hash (compared case-sensitively).
func (s *Server) RegisterHash(hash string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hashes[hash] = struct{}{}
}

// SetFault makes every later request to endpoint fail with f, until set back to FaultNone.
func (s *Server) SetFault(endpoint Endpoint, f Fault) {
	if endpoint < 0 || endpoint >= numEndpoints {
		panic(fmt.Sprintf("tosssim: SetFault on unknown %v", endpoint))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[endpoint] = f
}

// Calls counts the requests routed to endpoint (right path, any method) since the last reset.
func (s *Server) Calls(e Endpoint) int {
	if e < 0 || e >= numEndpoints {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[e]
}

// Handshakes counts TLS handshakes the API listener completed with a verified client
// certificate since the last reset; more handshakes than connections a client should need
// means it is not reusing them.
func (s *Server) Handshakes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handshakes
}

// IssuedTokens returns every access and refresh token handed out so far, so that tests can
// prove none of them reaches a log or an answer.
func (s *Server) IssuedTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// ResetCounters zeroes Calls and Handshakes; users, codes, tokens and faults are kept.
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = [numEndpoints]int{}
	s.handshakes = 0
	s.presented = make(map[[32]byte]int)
}

// randomString returns n random bytes as unpadded URL-safe Base64, for codes and tokens.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}
