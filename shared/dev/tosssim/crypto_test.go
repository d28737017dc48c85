package tosssim_test

import (
	"testing"

	"github.com/tossgame/migration-server/shared/dev/tosssim"
)

func TestEncryptMatchesTheContractTestVectors(t *testing.T) {
	t.Parallel()
	iv := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
	tests := []struct {
		name, plaintext, want string
	}{
		{"a Korean name", "홍길동", "AAECAwQFBgcICQoLqptb8X1dKZQU2k7m1ohncWVzJoWEYwdeWg=="},
		{"a birthday", "19930324", "AAECAwQFBgcICQoLdjvvKPXW8C9iQgSC0OOxZcyXe02At5xI"},
		{"a gender", "MALE", "AAECAwQFBgcICQoLCkOaXtuKRYJ8JZHosJV58Ph2Elo="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tosssim.Encrypt(testKey(), testAAD, tt.plaintext, iv)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("Encrypt(%q) = %s, want %s", tt.plaintext, got, tt.want)
			}
		})
	}
}

func TestEncryptDrawsAFreshIVThatDecrypts(t *testing.T) {
	t.Parallel()
	a, errA := tosssim.Encrypt(testKey(), testAAD, "홍길동", nil)
	b, errB := tosssim.Encrypt(testKey(), testAAD, "홍길동", nil)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if a == b {
		t.Fatal("two encryptions with a nil IV are identical: the IV is not random")
	}
	for _, v := range []string{a, b} {
		if plain, err := decrypt(testKey(), testAAD, v); err != nil || plain != "홍길동" {
			t.Fatalf("decrypt(%s) = %q, %v", v, plain, err)
		}
	}
}

func TestEncryptRefusesBadKeysAndIVs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		key  []byte
		iv   []byte
	}{
		{"a 16-byte key, since Toss uses AES-256", make([]byte, 16), nil},
		{"an empty key", nil, nil},
		{"a 16-byte IV", testKey(), make([]byte, 16)},
		{"an empty non-nil IV", testKey(), []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, err := tosssim.Encrypt(tt.key, testAAD, "x", tt.iv); err == nil {
				t.Fatalf("Encrypt = %s, want an error", got)
			}
		})
	}
}
