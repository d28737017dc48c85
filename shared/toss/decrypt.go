package toss

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
)

// ErrDecrypt is a field that does not open with the configured key and AAD: almost always a wrong
// decryptionKey or aad in the secret, sometimes a corrupted answer. Never store such a value.
var ErrDecrypt = errors.New("field does not decrypt with the configured key and AAD")

const (
	ivSize  = 12
	tagSize = 16
)

// Decrypt opens one encrypted login-me field: standard Base64 of IV(12) ‖ ciphertext ‖ tag(16),
// AES-256-GCM, with the e-mailed AAD string as additional data.
func Decrypt(key []byte, aad, value string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return "", ErrDecrypt
	}
	if len(key) != 32 || len(raw) < ivSize+tagSize { // AES-256 only, as Toss specifies
		return "", ErrDecrypt
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", ErrDecrypt
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", ErrDecrypt
	}
	plain, err := gcm.Open(nil, raw[:ivSize], raw[ivSize:], []byte(aad))
	if err != nil {
		return "", ErrDecrypt
	}
	return string(plain), nil
}
