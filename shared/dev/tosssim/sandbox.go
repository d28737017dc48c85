package tosssim

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// Sandbox routes: PathSandboxAuthorize stands in for appLogin(), PathSandboxIntegrated for
// getIsTossLoginIntegratedService() (GET ?userKey=N -> {"userKey":N,"integrated":bool}).
const (
	PathSandboxAuthorize  = "/sandbox/authorize"
	PathSandboxIntegrated = "/sandbox/integrated"
)

// sandboxRequest is the body of POST /sandbox/authorize. Profile fields use login-me's names
// and are plaintext; a field left out keeps the stored value, or FakeUser's for a new user.
type sandboxRequest struct {
	UserKey     json.RawMessage `json:"userKey"`
	Referrer    string          `json:"referrer"`
	Name        *string         `json:"name"`
	Phone       *string         `json:"phone"`
	Birthday    *string         `json:"birthday"`
	CI          *string         `json:"ci"`
	Gender      *string         `json:"gender"`
	Nationality *string         `json:"nationality"`
	// Raw so that an explicit null (no e-mail) differs from leaving it out.
	Email json.RawMessage `json:"email"`
}

func (s *Server) serveSandbox(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == PathSandboxIntegrated {
		s.serveIntegrated(w, r)
		return
	}
	if r.URL.Path != PathSandboxAuthorize {
		writeSandboxError(w, http.StatusNotFound, "no sandbox route at "+r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeSandboxError(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeSandboxError(w, http.StatusBadRequest, "cannot read body: "+err.Error())
		return
	}
	var req sandboxRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields() // a misspelt profile field would otherwise be silently faked
	if err := dec.Decode(&req); err != nil {
		writeSandboxError(w, http.StatusBadRequest, "body must be a JSON object: "+err.Error())
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		writeSandboxError(w, http.StatusBadRequest, "body must hold a single JSON object")
		return
	}
	userKey, err := parseUserKey(req.UserKey)
	if err != nil {
		writeSandboxError(w, http.StatusBadRequest, err.Error())
		return
	}
	referrer := req.Referrer
	if referrer == "" {
		referrer = "SANDBOX"
	}

	s.mu.Lock()
	u := FakeUser(userKey)
	if st, ok := s.users[userKey]; ok {
		u = st.User
	}
	s.mu.Unlock()
	if err := req.applyTo(&u); err != nil {
		writeSandboxError(w, http.StatusBadRequest, err.Error())
		return
	}
	code := s.Authorize(u, referrer)

	out, _ := json.Marshal(struct {
		AuthorizationCode string `json:"authorizationCode"`
		Referrer          string `json:"referrer"`
	}{code, referrer})
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

// serveIntegrated answers whether the user's Toss login is integrated. A browser page on another
// origin reads it, hence the CORS header (a plain GET needs no preflight).
func (s *Server) serveIntegrated(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeSandboxError(w, http.StatusMethodNotAllowed, "GET only")
		return
	}
	userKey, err := parseUserKey(json.RawMessage(r.URL.Query().Get("userKey")))
	if err != nil {
		writeSandboxError(w, http.StatusBadRequest, err.Error())
		return
	}
	out, _ := json.Marshal(struct {
		UserKey    int64 `json:"userKey"`
		Integrated bool  `json:"integrated"`
	}{userKey, s.Integrated(userKey)})
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

// applyTo overlays the given profile fields on u, refusing values Toss would never send.
func (req *sandboxRequest) applyTo(u *User) error {
	for _, f := range []struct {
		src *string
		dst *string
	}{
		{req.Name, &u.Name}, {req.Phone, &u.Phone}, {req.Birthday, &u.Birthday},
		{req.CI, &u.CI}, {req.Gender, &u.Gender}, {req.Nationality, &u.Nationality},
	} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	switch {
	case string(req.Email) == "null":
		u.Email = nil
	case len(req.Email) > 0:
		var email string
		if err := json.Unmarshal(req.Email, &email); err != nil {
			return errors.New("email must be a string or null")
		}
		u.Email = &email
	}
	if len(u.Birthday) != 8 {
		return fmt.Errorf("birthday must be yyyyMMdd, got %q", u.Birthday)
	}
	if _, err := strconv.ParseUint(u.Birthday, 10, 32); err != nil {
		return fmt.Errorf("birthday must be yyyyMMdd, got %q", u.Birthday)
	}
	if u.Gender != "MALE" && u.Gender != "FEMALE" {
		return fmt.Errorf("gender must be MALE or FEMALE, got %q", u.Gender)
	}
	if u.Nationality != "LOCAL" && u.Nationality != "FOREIGNER" {
		return fmt.Errorf("nationality must be LOCAL or FOREIGNER, got %q", u.Nationality)
	}
	return nil
}

func writeSandboxError(w http.ResponseWriter, status int, msg string) {
	out, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(out)
}

var (
	fakeSurnames = []string{"김", "이", "박", "최", "정", "강", "조", "윤", "장", "임"}
	fakeGiven    = []string{"민준", "서연", "도윤", "하은", "지호", "수아", "예준", "지우", "시우", "서윤", "주원", "하린"}
)

// FakeUser is the deterministic Korean profile the sandbox gives a userKey that arrives
// without one: the same key always yields the same person, so tests can predict it. About a
// quarter of them have no e-mail, as Toss users may not.
func FakeUser(userKey int64) User {
	seed := sha256.Sum256([]byte("tosssim fake user " + strconv.FormatInt(userKey, 10)))
	ci := sha512.Sum512(append([]byte("ci"), seed[:]...)) // 88 Base64 characters, like a real CI
	u := User{
		UserKey:     userKey,
		Name:        fakeSurnames[int(seed[0])%len(fakeSurnames)] + fakeGiven[int(seed[1])%len(fakeGiven)],
		Phone:       fmt.Sprintf("010%08d", binary.BigEndian.Uint32(seed[2:6])%100000000),
		Birthday:    fmt.Sprintf("%04d%02d%02d", 1960+int(seed[6])%45, 1+int(seed[7])%12, 1+int(seed[8])%28),
		CI:          base64.StdEncoding.EncodeToString(ci[:]),
		Gender:      []string{"MALE", "FEMALE"}[seed[9]%2],
		Nationality: "LOCAL",
	}
	if seed[10]%10 == 0 {
		u.Nationality = "FOREIGNER"
	}
	if seed[11]%4 != 0 {
		email := fmt.Sprintf("user%d@example.com", userKey)
		u.Email = &email
	}
	return u
}
