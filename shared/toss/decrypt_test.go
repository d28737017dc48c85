package toss

import (
	"encoding/base64"
	"errors"
	"testing"
)

// The contract's test vectors (contract.md §3).
var vectorKey, _ = base64.StdEncoding.DecodeString("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")

func TestDecryptOpensTheContractVectors(t *testing.T) {
	t.Parallel()
	for _, v := range []struct{ plain, field string }{
		{"홍길동", "AAECAwQFBgcICQoLqptb8X1dKZQU2k7m1ohncWVzJoWEYwdeWg=="},
		{"19930324", "AAECAwQFBgcICQoLdjvvKPXW8C9iQgSC0OOxZcyXe02At5xI"},
		{"MALE", "AAECAwQFBgcICQoLCkOaXtuKRYJ8JZHosJV58Ph2Elo="},
	} {
		got, err := Decrypt(vectorKey, "TEST_AAD", v.field)
		if err != nil || got != v.plain {
			t.Errorf("Decrypt(%s) = %q, %v; want %q", v.field, got, err, v.plain)
		}
	}
}

func TestDecryptRefusesWhatDoesNotAuthenticate(t *testing.T) {
	t.Parallel()
	good := "AAECAwQFBgcICQoLCkOaXtuKRYJ8JZHosJV58Ph2Elo="
	otherKey := make([]byte, 32)
	flipped := []byte(good)
	flipped[20] ^= 1
	for name, c := range map[string]struct {
		key       []byte
		aad, data string
	}{
		"a wrong AAD":             {vectorKey, "OTHER_AAD", good},
		"a wrong key":             {otherKey, "TEST_AAD", good},
		"a short key":             {vectorKey[:16], "TEST_AAD", good},
		"a tampered ciphertext":   {vectorKey, "TEST_AAD", string(flipped)},
		"not base64":              {vectorKey, "TEST_AAD", "%%%"},
		"shorter than IV and tag": {vectorKey, "TEST_AAD", base64.StdEncoding.EncodeToString(make([]byte, 27))},
		"empty":                   {vectorKey, "TEST_AAD", ""},
	} {
		if got, err := Decrypt(c.key, c.aad, c.data); !errors.Is(err, ErrDecrypt) || got != "" {
			t.Errorf("%s: Decrypt = %q, %v; want ErrDecrypt and nothing", name, got, err)
		}
	}
}
