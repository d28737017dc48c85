package tosssim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Paths of the partner API, as documented by Toss.
const (
	oauthBase           = "/api-partner/v1/apps-in-toss/user/oauth2/"
	PathGenerateToken   = oauthBase + "generate-token"
	PathLoginMe         = oauthBase + "login-me"
	PathRemoveByUserKey = oauthBase + "access/remove-by-user-key"
	PathVerifyAnonKey   = "/api-partner/v1/apps-in-toss/users/anon-key/verify"
	// PathRemoveByAccessToken ends the Toss login behind a Bearer token (contract §7).
	PathRemoveByAccessToken = oauthBase + "access/remove-by-access-token"
)

// maxBody bounds what the simulator reads; real requests are a few dozen bytes.
const maxBody = 64 << 10

// scopes is what the simulated user agreed to; user_key is included as Toss does since
// 2026-01-02.
var scopes = []string{"user_ci", "user_birthday", "user_nationality", "user_name", "user_phone", "user_gender", "user_email", "user_key"}

// scopeSeparators rotate across answers because Toss's own answers mix them.
var scopeSeparators = []string{",", " ", ", "}

// gatewayPage is what a load balancer in front of Toss answers when Toss is down.
const gatewayPage = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"

// answer is a response not yet written, so that a fault can replace it.
type answer struct {
	status      int
	contentType string
	body        []byte
}

type route struct {
	method   string
	endpoint Endpoint
	serve    func(s *Server, r *http.Request, f Fault) answer
}

var routes = map[string]route{
	PathGenerateToken:       {http.MethodPost, GenerateToken, (*Server).generateToken},
	PathLoginMe:             {http.MethodGet, LoginMe, (*Server).loginMe},
	PathRemoveByUserKey:     {http.MethodPost, RemoveByUserKey, (*Server).removeByUserKey},
	PathVerifyAnonKey:       {http.MethodPost, VerifyAnonKey, (*Server).verifyAnonKey},
	PathRemoveByAccessToken: {http.MethodPost, RemoveByAccessToken, (*Server).removeByAccessToken},
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	rt, ok := routes[r.URL.Path]
	if !ok {
		writeAnswer(w, failAnswer(http.StatusNotFound, "NOT_FOUND", "no API at "+r.URL.Path))
		return
	}
	s.mu.Lock()
	s.calls[rt.endpoint]++
	fault := s.faults[rt.endpoint]
	s.mu.Unlock()
	if r.Method != rt.method {
		w.Header().Set("Allow", rt.method)
		writeAnswer(w, failAnswer(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", rt.method+" only"))
		return
	}

	// The work is done first, whatever the fault: Toss commits, then the answer is lost.
	a := rt.serve(s, r, fault)
	switch fault {
	case FaultTimeout:
		select {
		case <-r.Context().Done():
			return // the client is gone; nobody reads what we would write
		case <-s.done:
			// Returning would let net/http send an empty 200; abort the connection instead.
			panic(http.ErrAbortHandler)
		}
	case Fault5xx:
		a = answer{http.StatusBadGateway, "text/html", []byte(gatewayPage)}
	case FaultFailEnvelope:
		a = failAnswer(http.StatusOK, "INTERNAL_ERROR", "일시적인 오류가 발생했어요 (simulated)")
	case FaultUserKeyNotFound:
		a = failAnswer(http.StatusOK, "USER_KEY_NOT_FOUND", "userKey not found (simulated)")
	case FaultMalformed:
		a.status, a.body = http.StatusOK, a.body[:len(a.body)/2]
	case FaultUnauthorized:
		a = answer{http.StatusUnauthorized, "application/json", []byte(`{"message":"Unauthorized"}`)}
	}
	writeAnswer(w, a)
}

func (s *Server) generateToken(r *http.Request, _ Fault) answer {
	var req struct {
		AuthorizationCode string `json:"authorizationCode"`
		Referrer          string `json:"referrer"`
	}
	if err := readJSON(r, &req); err != nil {
		return invalidRequest("body must be a JSON object: " + err.Error())
	}
	if req.AuthorizationCode == "" {
		return invalidRequest("authorizationCode is required")
	}
	if req.Referrer == "" {
		req.Referrer = "DEFAULT"
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	g, ok := s.codes[req.AuthorizationCode]
	// Any presentation spends a code, even one that fails: a retry can never succeed.
	delete(s.codes, req.AuthorizationCode)
	if !ok || !now.Before(g.expires) || g.referrer != req.Referrer {
		return invalidGrant(http.StatusBadRequest)
	}
	access, refresh := randomString(32), randomString(32)
	s.tokens[access] = grant{userKey: g.userKey, expires: now.Add(s.cfg.TokenTTL)}
	if u := s.users[g.userKey]; u != nil {
		u.integrated = true // the user agreed: the mini-app now sees Toss login as integrated
	}
	s.issued = append(s.issued, access, refresh)

	n := s.tokenAnswers
	s.tokenAnswers++
	// One second short of the lifetime, as Toss answers 3599 for its one-hour tokens.
	secs := max(int(s.cfg.TokenTTL.Seconds())-1, 1)
	var expiresIn any = secs
	if n%2 == 1 {
		expiresIn = strconv.Itoa(secs) // the documentation types it as a string; answers vary
	}
	return successAnswer(struct {
		TokenType    string `json:"tokenType"`
		AccessToken  string `json:"accessToken"`
		RefreshToken string `json:"refreshToken"`
		ExpiresIn    any    `json:"expiresIn"`
		Scope        string `json:"scope"`
	}{"Bearer", access, refresh, expiresIn, scopeString(n)})
}

// loginMeSuccess keeps the field order of Toss's documented example.
type loginMeSuccess struct {
	UserKey     *int64   `json:"userKey,omitempty"`
	Scope       string   `json:"scope"`
	AgreedTerms []string `json:"agreedTerms"`
	Policy      *string  `json:"policy,omitempty"`
	CertTxID    *string  `json:"certTxId,omitempty"`
	Name        string   `json:"name"`
	Phone       string   `json:"phone"`
	Birthday    string   `json:"birthday"`
	CI          string   `json:"ci"`
	DI          *string  `json:"di"`
	Gender      string   `json:"gender"`
	Nationality string   `json:"nationality"`
	Email       *string  `json:"email"`
}

func (s *Server) loginMe(r *http.Request, f Fault) answer {
	token, ok := bearerToken(r.Header.Get("Authorization"))

	s.mu.Lock()
	now := s.now()
	g, known := s.tokens[token]
	if !ok || !known || !now.Before(g.expires) {
		delete(s.tokens, token)
		s.mu.Unlock()
		return invalidGrant(http.StatusUnauthorized)
	}
	st := s.users[g.userKey]
	if st == nil || st.removed {
		s.mu.Unlock()
		return failAnswer(http.StatusOK, "USER_NOT_FOUND", "user not found")
	}
	u := st.User
	n := s.loginAnswers
	s.loginAnswers++
	s.mu.Unlock()

	key := s.cfg.Key
	if f == FaultBadCiphertext {
		key = s.badKey
	}
	out := loginMeSuccess{
		Scope:       scopeString(n),
		AgreedTerms: []string{"terms_tag1", "terms_tag2"},
	}
	if f != FaultNoUserKey {
		out.UserKey = &u.UserKey
	}
	if n%2 == 1 {
		// Older answers carried these; clients must ignore them.
		policy, txID := "TOSS_LOGIN", randomString(16)
		out.Policy, out.CertTxID = &policy, &txID
	}
	fields := []struct {
		dst   *string
		plain string
	}{
		{&out.Name, u.Name}, {&out.Phone, u.Phone}, {&out.Birthday, u.Birthday},
		{&out.CI, u.CI}, {&out.Gender, u.Gender}, {&out.Nationality, u.Nationality},
	}
	for _, fl := range fields {
		enc, err := Encrypt(key, s.cfg.AAD, fl.plain, nil)
		if err != nil {
			return failAnswer(http.StatusInternalServerError, "INTERNAL_ERROR", "encryption failed")
		}
		*fl.dst = enc
	}
	if u.Email != nil {
		enc, err := Encrypt(key, s.cfg.AAD, *u.Email, nil)
		if err != nil {
			return failAnswer(http.StatusInternalServerError, "INTERNAL_ERROR", "encryption failed")
		}
		out.Email = &enc
	}
	return successAnswer(out)
}

func (s *Server) removeByUserKey(r *http.Request, f Fault) answer {
	var req struct {
		UserKey json.RawMessage `json:"userKey"`
	}
	if err := readJSON(r, &req); err != nil {
		return invalidRequest("body must be a JSON object: " + err.Error())
	}
	userKey, err := parseUserKey(req.UserKey)
	if err != nil {
		return invalidRequest(err.Error())
	}

	s.mu.Lock()
	s.disconnect(userKey)
	s.mu.Unlock()

	if f == FaultNoUserKey {
		return successAnswer(struct{}{})
	}
	return successAnswer(struct {
		UserKey int64 `json:"userKey"`
	}{userKey})
}

// disconnect withdraws the user's consent: nothing issued for them may be used again, and the
// mini-app sees Toss login as not integrated. s.mu is held.
func (s *Server) disconnect(userKey int64) {
	for tok, g := range s.tokens {
		if g.userKey == userKey {
			delete(s.tokens, tok)
		}
	}
	for code, g := range s.codes {
		if g.userKey == userKey {
			delete(s.codes, code)
		}
	}
	if u := s.users[userKey]; u != nil {
		u.integrated = false
	}
}

// removeByAccessToken ends the Toss login behind a live Bearer token: the request has no body
// (contract §7); a spent, expired or unknown token is the bare invalid_grant login-me answers.
// The success payload is undocumented; the simulator answers the userKey, as
// remove-by-user-key does.
func (s *Server) removeByAccessToken(r *http.Request, f Fault) answer {
	io.Copy(io.Discard, http.MaxBytesReader(nil, r.Body, maxBody))
	token, ok := bearerToken(r.Header.Get("Authorization"))
	s.mu.Lock()
	g, known := s.tokens[token]
	if !ok || !known || !s.now().Before(g.expires) {
		delete(s.tokens, token)
		s.mu.Unlock()
		return invalidGrant(http.StatusUnauthorized)
	}
	s.disconnect(g.userKey)
	s.mu.Unlock()
	if f == FaultNoUserKey {
		return successAnswer(struct{}{})
	}
	return successAnswer(struct {
		UserKey int64 `json:"userKey"`
	}{g.userKey})
}

func (s *Server) verifyAnonKey(r *http.Request, _ Fault) answer {
	io.Copy(io.Discard, http.MaxBytesReader(nil, r.Body, maxBody)) // the body is documented empty
	hash := r.Header.Get("x-anon-key")
	s.mu.Lock()
	_, ok := s.hashes[hash]
	n := s.verdicts
	if !ok {
		s.verdicts++
	}
	s.mu.Unlock()
	if hash == "" || !ok {
		// The verdict comes at 200 or at 401 (contract §3); answers alternate, so a client must
		// read the envelope either way.
		status := http.StatusOK
		if n%2 == 1 {
			status = http.StatusUnauthorized
		}
		return failAnswer(status, "4010", "유효하지 않은 키예요")
	}
	return successAnswer("true")
}

// parseUserKey accepts a JSON number holding a positive int64, as Toss sends and expects it.
func parseUserKey(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 {
		return 0, errors.New("userKey is required")
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("userKey must be a positive integer, got %s", raw)
	}
	return n, nil
}

// readJSON reads the whole body, so that the server notices a client hanging up (net/http
// only watches the connection once the body is consumed), then decodes it.
func readJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}

// bearerToken extracts the token of an "Authorization: Bearer" header; the scheme is
// case-insensitive (RFC 9110).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func scopeString(n int) string {
	return strings.Join(scopes, scopeSeparators[n%len(scopeSeparators)])
}

func successAnswer(success any) answer {
	return jsonAnswer(http.StatusOK, struct {
		ResultType string `json:"resultType"`
		Success    any    `json:"success"`
	}{"SUCCESS", success})
}

func failAnswer(status int, code, reason string) answer {
	type failure struct {
		ErrorCode string `json:"errorCode"`
		Reason    string `json:"reason"`
	}
	return jsonAnswer(status, struct {
		ResultType string  `json:"resultType"`
		Error      failure `json:"error"`
	}{"FAIL", failure{code, reason}})
}

func invalidRequest(reason string) answer {
	return failAnswer(http.StatusBadRequest, "INVALID_REQUEST", reason)
}

// invalidGrant is the bare OAuth error Toss answers for a spent, expired or foreign code or
// token, outside its usual envelope.
func invalidGrant(status int) answer {
	return answer{status, "application/json", []byte(`{"error":"invalid_grant"}`)}
}

func jsonAnswer(status int, v any) answer {
	body, err := json.Marshal(v)
	if err != nil {
		// Only the simulator's own types get here; failing to encode them is a bug in it.
		panic(fmt.Sprintf("tosssim: encode answer: %v", err))
	}
	return answer{status, "application/json", body}
}

func writeAnswer(w http.ResponseWriter, a answer) {
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(a.status)
	w.Write(a.body)
}
