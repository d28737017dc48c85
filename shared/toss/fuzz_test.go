package toss

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tossgame/migration-server/shared/apperr"
)

// Fuzz targets for what Toss (or whatever answers in its place) can put in front of the client:
// the answer's bytes and status, through the real client over loopback HTTP, and the encrypted
// login-me fields through Decrypt.
//
//	go test -run '^$' -fuzz '^FuzzTossEnvelope$' -fuzztime 20s ./shared/toss/

// fuzzAnswers are the answer shapes of contract §3.
var fuzzAnswers = []struct {
	status int
	body   string
}{
	{200, `{"resultType":"SUCCESS","success":{"tokenType":"Bearer","accessToken":"at-1","refreshToken":"rt-1","expiresIn":3599,"scope":"user_key user_name"}}`},
	{200, `{"resultType":"SUCCESS","success":{"tokenType":"Bearer","accessToken":"at-1","refreshToken":"rt-1","expiresIn":"3599","scope":"user_key,user_name"}}`},
	{200, `{"resultType":"SUCCESS","success":{"tokenType":"Bearer","accessToken":"at-1","expiresIn":null,"scope":"user_key, user_name ,user_phone"}}`},
	{200, `{"resultType":"SUCCESS","success":{"tokenType":"Bearer","accessToken":"","expiresIn":1}}`},
	{200, `{"resultType":"SUCCESS","success":{"accessToken":"at","expiresIn":"Infinity"}}`},
	{200, `{"resultType":"SUCCESS","success":{"accessToken":"at","expiresIn":1e400}}`},
	{200, `{"resultType":"SUCCESS","success":{"accessToken":"at","scope":["user_key","user_name"]}}`},
	{200, `{"resultType":"SUCCESS","success":{"userKey":443731104,"scope":"user_key,user_name,user_phone","agreedTerms":["terms_1","terms_2"],` +
		`"name":"AAECAwQFBgcICQoLqptb8X1dKZQU2k7m1ohncWVzJoWEYwdeWg==","phone":"AAECAwQFBgcICQoL","birthday":"AAECAwQFBgcICQoLdjvvKPXW8C9iQgSC0OOxZcyXe02At5xI",` +
		`"ci":"x","gender":"AAECAwQFBgcICQoLCkOaXtuKRYJ8JZHosJV58Ph2Elo=","nationality":"y","email":null,"di":null,"policy":"p","certTxId":"c"}}`},
	{200, `{"resultType":"SUCCESS","success":{"userKey":"443731104","scope":"user_key"}}`},
	{200, `{"resultType":"SUCCESS","success":{"userKey":9007199254740993}}`},
	{200, `{"resultType":"SUCCESS","success":{"userKey":9223372036854775808}}`},
	{200, `{"resultType":"SUCCESS","success":{"userKey":-1}}`},
	{200, `{"resultType":"SUCCESS","success":{"userKey":-0}}`},
	{200, `{"resultType":"SUCCESS","success":{"userKey":1.5}}`},
	{200, `{"resultType":"SUCCESS","success":{"userKey":1e3}}`},
	{200, `{"resultType":"SUCCESS","success":{"userKey":null}}`},
	{200, `{"resultType":"SUCCESS","success":{}}`},
	{200, `{"resultType":"SUCCESS","success":null}`},
	{200, `{"resultType":"SUCCESS"}`},
	{200, `{"resultType":"SUCCESS","success":"true"}`},
	{200, `{"resultType":"SUCCESS","success":true}`},
	{200, `{"resultType":"SUCCESS","success":"false"}`},
	{200, `{"resultType":"FAIL","error":{"errorCode":"INTERNAL_ERROR","reason":"internal error"}}`},
	{500, `{"resultType":"FAIL","error":{"errorCode":"INTERNAL_ERROR","reason":"internal error"}}`},
	{200, `{"resultType":"FAIL","error":{"errorCode":"USER_KEY_NOT_FOUND","reason":"user key not found"}}`},
	{404, `{"resultType":"FAIL","error":{"errorCode":"USER_NOT_FOUND","reason":"user not found"}}`},
	{200, `{"resultType":"FAIL","error":{"errorCode":"4010","reason":"invalid anon key"}}`},
	{200, `{"resultType":"FAIL","error":{"errorCode":4010}}`},
	{400, `{"resultType":"FAIL","error":{"errorCode":"invalid_grant","reason":"code expired"}}`},
	{200, `{"resultType":"FAIL","error":{"errorCode":"inv\u0061lid_grant"}}`},
	{200, `{"resultType":"FAIL","error":null}`},
	{200, `{"resultType":"FAIL"}`},
	{400, `{"error":"invalid_grant"}`},
	{401, `{"error":"invalid_grant","error_description":"authorization code expired"}`},
	{200, `{"error":"invalid_grant"}`},
	{200, `{"error":"inv\u0061lid_grant"}`},
	{400, `{"error":"invalid_request"}`},
	{200, `{"error":"invalid_grant","resultType":"SUCCESS","success":{"accessToken":"at","userKey":1}}`},
	{200, `{"resultType":"SUCCESS","success":{"accessToken":"at","userKey":1},"error":"invalid_grant"}`},
	{200, `{"RESULTTYPE":"SUCCESS","SUCCESS":{"ACCESSTOKEN":"at","USERKEY":1}}`},
	{401, `{"resultType":"FAIL","error":{"errorCode":"UNAUTHORIZED"}}`},
	{401, ``},
	{200, `{"resultType":"SUCCESS","success":{"tokenType":"Bearer","accessToken":"a`},
	{200, `{"resultType":"SUCCESS","success":{"userKey":44373`},
	{502, "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"},
	{504, "<!DOCTYPE html><html><body>Gateway Timeout</body></html>"},
	{200, ``}, {200, `null`}, {200, `[]`}, {200, `"SUCCESS"`}, {200, `{}`}, {200, "\xff{"},
}

// jsonFields reads a JSON object's members whose keys match name the way encoding/json matches
// struct fields (case-insensitively).
func jsonFields(raw []byte, name string) []json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	var out []json.RawMessage
	for k, v := range m {
		if strings.EqualFold(k, name) {
			out = append(out, v)
		}
	}
	return out
}

func isJSONString(raw json.RawMessage, want string) bool {
	var s string
	return json.Unmarshal(raw, &s) == nil && s == want
}

// saysInvalidGrant: the answer carries invalid_grant, bare or as a FAIL envelope's errorCode.
func saysInvalidGrant(body []byte) bool {
	for _, e := range jsonFields(body, "error") {
		if isJSONString(e, "invalid_grant") {
			return true
		}
		for _, c := range jsonFields(e, "errorCode") {
			if isJSONString(c, "invalid_grant") {
				return true
			}
		}
	}
	return false
}

func saysResult(body []byte, result string) bool {
	for _, r := range jsonFields(body, "resultType") {
		if isJSONString(r, result) {
			return true
		}
	}
	return false
}

// checkClassified: every failure is exactly one of the two outcomes the client may report, and
// invalid_grant only when the answer says so.
func checkClassified(t *testing.T, call string, status int, body []byte, err error) {
	t.Helper()
	if err == nil {
		return
	}
	invalid, unavailable := errors.Is(err, apperr.ErrInvalidCode), errors.Is(err, apperr.ErrTossUnavailable)
	if invalid == unavailable {
		t.Fatalf("%s: HTTP %d %q: error %q is not classified as exactly one of ErrInvalidCode, ErrTossUnavailable", call, status, body, err)
	}
	if invalid && !saysInvalidGrant(body) {
		t.Fatalf("%s: HTTP %d %q: ErrInvalidCode, yet the answer does not say invalid_grant", call, status, body)
	}
}

func FuzzTossEnvelope(f *testing.F) {
	for _, a := range fuzzAnswers {
		f.Add(a.status, []byte(a.body))
	}

	// One loopback server for the whole run, answering the current input to every path. Over
	// plain http the client's TLS settings are unused; the decoding path is the production one.
	type answer struct {
		status int
		body   []byte
	}
	var mu sync.Mutex // one input at a time owns the server
	var cur atomic.Pointer[answer]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := cur.Load()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
	}))
	f.Cleanup(srv.Close)
	c := NewClient(srv.URL, tls.Certificate{}, nil)
	f.Cleanup(c.CloseIdle)

	f.Fuzz(func(t *testing.T, status int, body []byte) {
		// The parser alone takes any status, even ones HTTP cannot carry.
		var payload struct {
			AccessToken string `json:"accessToken"`
		}
		err := decodeEnvelope(status, body, &payload)
		checkClassified(t, "decodeEnvelope", status, body, err)
		if err == nil && !saysResult(body, "SUCCESS") {
			t.Fatalf("decodeEnvelope: HTTP %d %q: success, yet resultType is not SUCCESS", status, body)
		}

		if status < 200 || status > 599 {
			status = 200 + int(uint(status)%400)
		}
		mu.Lock()
		defer mu.Unlock()
		cur.Store(&answer{status, body})
		if status == http.StatusNoContent || status == http.StatusNotModified {
			body = nil // the server sends no body with these
		}
		ctx := context.Background()

		tok, err := c.GenerateToken(ctx, "code", "DEFAULT")
		checkClassified(t, "generate-token", status, body, err)
		if err == nil && (!saysResult(body, "SUCCESS") || tok.AccessToken == "") {
			t.Fatalf("generate-token: HTTP %d %q: success %+v, yet not a SUCCESS with an accessToken", status, body, tok)
		}

		me, err := c.LoginMe(ctx, "token")
		checkClassified(t, "login-me", status, body, err)
		if err == nil {
			if !saysResult(body, "SUCCESS") {
				t.Fatalf("login-me: HTTP %d %q: success, yet resultType is not SUCCESS", status, body)
			}
			if me.UserKey < 0 {
				t.Fatalf("login-me: HTTP %d %q: userKey %d", status, body, me.UserKey)
			}
			for name, v := range me.Fields {
				if v == "" || !fuzzContains(EncryptedFields, name) {
					t.Fatalf("login-me: HTTP %d %q: field %q = %q", status, body, name, v)
				}
			}
		}

		ok, err := c.VerifyHash(ctx, "hash")
		checkClassified(t, "anon-key/verify", status, body, err)
		if err == nil && !saysResult(body, "SUCCESS") && !saysResult(body, "FAIL") && status != http.StatusUnauthorized {
			t.Fatalf("anon-key/verify: HTTP %d %q: an answer, yet neither SUCCESS, FAIL nor 401", status, body)
		}
		if ok && !saysResult(body, "SUCCESS") {
			t.Fatalf("anon-key/verify: HTTP %d %q: true, yet resultType is not SUCCESS", status, body)
		}
		// "Not a user's hash" is only Toss's documented verdict: FAIL 4010 at 200 or 401.
		if err == nil && !ok && !saysResult(body, "SUCCESS") && (!saysResult(body, "FAIL") || (status != 200 && status != 401)) {
			t.Fatalf("anon-key/verify: HTTP %d %q: a verdict, yet not FAIL 4010 at 200 or 401", status, body)
		}

		err = c.RemoveAccess(ctx, "token")
		checkClassified(t, "remove-by-access-token", status, body, err)
		empty := len(strings.TrimSpace(string(body))) == 0
		if err == nil && !saysResult(body, "SUCCESS") && !(empty && status/100 == 2) {
			t.Fatalf("remove-by-access-token: HTTP %d %q: done, yet neither a SUCCESS nor an empty 2xx", status, body)
		}
	})
}

func fuzzContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// fuzzSeal is an independent AES-GCM sealing: base64(iv ‖ ciphertext ‖ tag).
func fuzzSeal(t *testing.T, key, iv []byte, aad string, plain []byte) string {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(gcm.Seal(append([]byte(nil), iv...), iv, plain, []byte(aad)))
}

// fuzzIV makes 12 bytes of whatever the fuzzer gave.
func fuzzIV(b []byte) []byte {
	iv := make([]byte, ivSize)
	copy(iv, b)
	return iv
}

func FuzzDecrypt(f *testing.F) {
	key, _ := base64.StdEncoding.DecodeString("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	iv := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	for _, v := range []struct{ plain, field string }{ // contract §3
		{"홍길동", "AAECAwQFBgcICQoLqptb8X1dKZQU2k7m1ohncWVzJoWEYwdeWg=="},
		{"19930324", "AAECAwQFBgcICQoLdjvvKPXW8C9iQgSC0OOxZcyXe02At5xI"},
		{"MALE", "AAECAwQFBgcICQoLCkOaXtuKRYJ8JZHosJV58Ph2Elo="},
	} {
		f.Add(key, "TEST_AAD", v.field, []byte(v.plain), iv)
		f.Add(key, "OTHER_AAD", v.field, []byte(v.plain), iv)
		f.Add(key[:16], "TEST_AAD", v.field, []byte(v.plain), iv)
		f.Add(key, "TEST_AAD", v.field+"\n", []byte(v.plain), iv)
		f.Add(key, "TEST_AAD", strings.TrimRight(v.field, "="), []byte(v.plain), iv)
	}
	f.Add([]byte(nil), "", "", []byte(nil), []byte(nil))
	f.Add(key, "TEST_AAD", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGA==", []byte(""), iv)
	f.Add(key, "TEST_AAD", "%%%", []byte("x"), []byte("iv"))

	f.Fuzz(func(t *testing.T, k []byte, aad, value string, plain, ivBytes []byte) {
		// Anything: ErrDecrypt or the plaintext whose sealing with the same key, AAD and IV is
		// exactly the value.
		got, err := Decrypt(k, aad, value)
		switch {
		case err != nil && (!errors.Is(err, ErrDecrypt) || got != ""):
			t.Fatalf("Decrypt(%x, %q, %q) = %q, %v; a failure must be ErrDecrypt and nothing", k, aad, value, got, err)
		case err == nil:
			raw, derr := base64.StdEncoding.DecodeString(value)
			if derr != nil || len(raw) < ivSize+tagSize {
				t.Fatalf("Decrypt(%x, %q, %q) opened a value that is not Base64 of IV, ciphertext and tag", k, aad, value)
			}
			if again := fuzzSeal(t, k, raw[:ivSize], aad, []byte(got)); again != base64.StdEncoding.EncodeToString(raw) {
				t.Fatalf("Decrypt(%x, %q, %q) = %q, which does not seal back to the value", k, aad, value, got)
			}
		}

		// A field sealed with the contract's key and AAD opens to exactly its plaintext, and
		// with no other AAD.
		sealed := fuzzSeal(t, key, fuzzIV(ivBytes), "TEST_AAD", plain)
		if got, err := Decrypt(key, "TEST_AAD", sealed); err != nil || got != string(plain) {
			t.Fatalf("round trip of %q: %q, %v", plain, got, err)
		}
		if aad != "TEST_AAD" {
			if got, err := Decrypt(key, aad, sealed); !errors.Is(err, ErrDecrypt) || got != "" {
				t.Fatalf("sealed with TEST_AAD, opened with AAD %q: %q, %v", aad, got, err)
			}
		}
		// The same with the fuzzed key and AAD when the key is one of AES-256's.
		if len(k) == 32 {
			sealed := fuzzSeal(t, k, fuzzIV(ivBytes), aad, plain)
			if got, err := Decrypt(k, aad, sealed); err != nil || got != string(plain) {
				t.Fatalf("round trip of %q under key %x, AAD %q: %q, %v", plain, k, aad, got, err)
			}
		}
	})
}
