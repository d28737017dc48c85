package tosssim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"testing"

	"github.com/tossgame/migration-server/shared/dev/tosssim"
)

func (e *env) sandbox(t *testing.T, method, body string) result {
	t.Helper()
	r := call(context.Background(), http.DefaultClient, method, e.sim.SandboxURL()+tosssim.PathSandboxAuthorize, nil, body)
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r
}

func TestSandboxAuthorizeMintsCodesTheAPIAccepts(t *testing.T) {
	t.Parallel()
	fake := tosssim.FakeUser(443731104)
	tests := []struct {
		name         string
		body         string
		wantReferrer string
		wantName     string
		wantEmail    *string
	}{
		{"a bare userKey gets the fake profile and referrer SANDBOX", `{"userKey":443731104}`, "SANDBOX", fake.Name, fake.Email},
		{"a given referrer is kept as sent", `{"userKey":443731104,"referrer":"sandbox"}`, "sandbox", fake.Name, fake.Email},
		{"given profile fields override the fake ones", `{"userKey":443731104,"name":"김토스","email":"toss@example.com"}`, "SANDBOX", "김토스", ptr("toss@example.com")},
		{"an explicit null email means none", `{"userKey":443731104,"email":null}`, "SANDBOX", fake.Name, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			r := e.sandbox(t, http.MethodPost, tt.body)
			var got struct{ AuthorizationCode, Referrer string }
			if err := json.Unmarshal(r.body, &got); err != nil || r.status != http.StatusOK || got.AuthorizationCode == "" {
				t.Fatalf("sandbox = %v (%v)", r, err)
			}
			if got.Referrer != tt.wantReferrer {
				t.Errorf("referrer = %q, want %q", got.Referrer, tt.wantReferrer)
			}
			a, _ := decodeLoginMe(t, e.loginMe(t, e.mustToken(t, got.AuthorizationCode, got.Referrer)))
			if name, err := decrypt(testKey(), testAAD, a.Name); err != nil || name != tt.wantName {
				t.Errorf("name = %q (%v), want %q", name, err, tt.wantName)
			}
			switch {
			case tt.wantEmail == nil && a.Email != nil:
				t.Errorf("email = %s, want null", *a.Email)
			case tt.wantEmail != nil && a.Email == nil:
				t.Errorf("email is null, want %q", *tt.wantEmail)
			case tt.wantEmail != nil:
				if email, err := decrypt(testKey(), testAAD, *a.Email); err != nil || email != *tt.wantEmail {
					t.Errorf("email = %q (%v), want %q", email, err, *tt.wantEmail)
				}
			}
		})
	}
}

func TestSandboxAuthorizeRejectsBadRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name       string
		method     string
		body       string
		wantStatus int
	}{
		{"a body that is not JSON", http.MethodPost, `userKey=1`, http.StatusBadRequest},
		{"a missing userKey", http.MethodPost, `{}`, http.StatusBadRequest},
		{"a userKey as a string", http.MethodPost, `{"userKey":"443731104"}`, http.StatusBadRequest},
		{"a zero userKey", http.MethodPost, `{"userKey":0}`, http.StatusBadRequest},
		{"a negative userKey", http.MethodPost, `{"userKey":-5}`, http.StatusBadRequest},
		{"a fractional userKey", http.MethodPost, `{"userKey":1.5}`, http.StatusBadRequest},
		{"a userKey beyond int64", http.MethodPost, `{"userKey":9223372036854775808}`, http.StatusBadRequest},
		{"a misspelt field", http.MethodPost, `{"userKey":1,"nmae":"x"}`, http.StatusBadRequest},
		{"a gender Toss never sends", http.MethodPost, `{"userKey":1,"gender":"M"}`, http.StatusBadRequest},
		{"a birthday not in yyyyMMdd", http.MethodPost, `{"userKey":1,"birthday":"1993-03-24"}`, http.StatusBadRequest},
		{"an email that is a number", http.MethodPost, `{"userKey":1,"email":5}`, http.StatusBadRequest},
		{"trailing data after the object", http.MethodPost, `{"userKey":1} {}`, http.StatusBadRequest},
		{"a GET", http.MethodGet, ``, http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := e.sandbox(t, tt.method, tt.body)
			var got struct{ Error string }
			if err := json.Unmarshal(r.body, &got); err != nil || r.status != tt.wantStatus || got.Error == "" {
				t.Fatalf("answer = %v, want %d with a JSON error", r, tt.wantStatus)
			}
		})
	}
	r := call(context.Background(), http.DefaultClient, http.MethodPost, e.sim.SandboxURL()+"/sandbox/nope", nil, `{}`)
	if r.err != nil || r.status != http.StatusNotFound {
		t.Errorf("unknown sandbox path = %v (%v), want 404", r, r.err)
	}
}

func TestFakeUsersAreDeterministicAndPlausible(t *testing.T) {
	t.Parallel()
	var (
		digits8  = regexp.MustCompile(`^(19[6-9]\d|200[0-4])(0[1-9]|1[0-2])(0[1-9]|1\d|2[0-8])$`)
		phone    = regexp.MustCompile(`^010\d{8}$`)
		genders  = map[string]int{}
		nations  = map[string]int{}
		noEmails = 0
	)
	for k := int64(1); k <= 200; k++ {
		u := tosssim.FakeUser(k)
		if again := tosssim.FakeUser(k); again.Name != u.Name || again.CI != u.CI || again.Birthday != u.Birthday {
			t.Fatalf("FakeUser(%d) differs between calls", k)
		}
		if u.UserKey != k || u.Name == "" || len(u.CI) != 88 || !phone.MatchString(u.Phone) || !digits8.MatchString(u.Birthday) {
			t.Fatalf("FakeUser(%d) = %+v is implausible", k, u)
		}
		genders[u.Gender]++
		nations[u.Nationality]++
		if u.Email == nil {
			noEmails++
		}
	}
	if len(genders) != 2 || genders["MALE"] == 0 || genders["FEMALE"] == 0 {
		t.Errorf("genders = %v, want MALE and FEMALE", genders)
	}
	if len(nations) != 2 || nations["LOCAL"] == 0 || nations["FOREIGNER"] == 0 {
		t.Errorf("nationalities = %v, want LOCAL and FOREIGNER", nations)
	}
	if noEmails == 0 || noEmails == 200 {
		t.Errorf("%d of 200 fake users lack an e-mail, want some but not all", noEmails)
	}
}
