package tosssim

import "fmt"

// Endpoint names one route of the partner API, for SetFault and Calls.
type Endpoint int

// The partner API routes the simulator serves.
const (
	GenerateToken       Endpoint = iota // POST .../user/oauth2/generate-token
	LoginMe                             // GET  .../user/oauth2/login-me
	RemoveByUserKey                     // POST .../user/oauth2/access/remove-by-user-key
	VerifyAnonKey                       // POST .../users/anon-key/verify
	RemoveByAccessToken                 // POST .../user/oauth2/access/remove-by-access-token
	numEndpoints
)

func (e Endpoint) String() string {
	switch e {
	case GenerateToken:
		return "generate-token"
	case LoginMe:
		return "login-me"
	case RemoveByUserKey:
		return "remove-by-user-key"
	case VerifyAnonKey:
		return "anon-key/verify"
	case RemoveByAccessToken:
		return "remove-by-access-token"
	}
	return fmt.Sprintf("Endpoint(%d)", int(e))
}

// Fault is a failure the simulator injects into every request to one endpoint until it is
// switched back to FaultNone.
//
// A fault strikes after the endpoint has done its work, as when Toss commits and the answer is
// then lost on the way back: a code is spent, tokens are minted, a user is removed, even though
// the client never learns it. That is the worst case a client must survive, and it is why a
// retry with the same authorization code after any fault on GenerateToken gets invalid_grant.
type Fault int

const (
	// FaultNone answers normally.
	FaultNone Fault = iota
	// FaultTimeout never answers: the handler hangs until the client gives up (the request
	// context ends) or the Server is closed.
	FaultTimeout
	// Fault5xx answers 502 with an HTML page, as a gateway in front of Toss does; the body is
	// not JSON, so a client that decodes before looking at the status breaks.
	Fault5xx
	// FaultFailEnvelope answers 200 with {"resultType":"FAIL"} and errorCode INTERNAL_ERROR,
	// Toss's own report of a failure on its side.
	FaultFailEnvelope
	// FaultMalformed answers 200 with the first half of the real answer: truncated JSON.
	FaultMalformed
	// FaultNoUserKey drops userKey from a successful answer (LoginMe, RemoveByUserKey); failures
	// and other endpoints are unaffected.
	FaultNoUserKey
	// FaultBadCiphertext encrypts the profile fields of a successful LoginMe answer with a
	// different key, so every field fails the GCM tag check; other endpoints are unaffected.
	FaultBadCiphertext
	// FaultUserKeyNotFound answers 200 with {"resultType":"FAIL"} and errorCode
	// USER_KEY_NOT_FOUND.
	FaultUserKeyNotFound
	// FaultUnauthorized answers 401 with a gateway's {"message":"Unauthorized"}: a 401 that is
	// not any endpoint's documented answer (anon-key/verify's verdict is a FAIL 4010).
	FaultUnauthorized
)

func (f Fault) String() string {
	switch f {
	case FaultNone:
		return "none"
	case FaultTimeout:
		return "timeout"
	case Fault5xx:
		return "5xx"
	case FaultFailEnvelope:
		return "fail-envelope"
	case FaultMalformed:
		return "malformed"
	case FaultNoUserKey:
		return "no-user-key"
	case FaultBadCiphertext:
		return "bad-ciphertext"
	case FaultUserKeyNotFound:
		return "user-key-not-found"
	case FaultUnauthorized:
		return "unauthorized"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}
