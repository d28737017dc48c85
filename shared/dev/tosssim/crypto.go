package tosssim

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

const (
	keySize = 32 // AES-256
	ivSize  = 12 // the GCM standard nonce, as Toss sends it
)

// Encrypt seals plaintext the way Toss encrypts a login-me field: AES-256-GCM with the given
// AAD, answered as standard Base64 of IV ‖ ciphertext ‖ tag. iv nil draws a random 12-byte IV;
// a fixed one is for test vectors only, since reusing an IV with a key breaks GCM.
func Encrypt(key []byte, aad, plaintext string, iv []byte) (string, error) {
	if len(key) != keySize {
		return "", fmt.Errorf("tosssim: key is %d bytes, want %d", len(key), keySize)
	}
	if iv == nil {
		iv = make([]byte, ivSize)
		if _, err := rand.Read(iv); err != nil {
			return "", fmt.Errorf("tosssim: draw IV: %w", err)
		}
	}
	if len(iv) != ivSize {
		return "", fmt.Errorf("tosssim: IV is %d bytes, want %d", len(iv), ivSize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("tosssim: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", fmt.Errorf("tosssim: %w", err)
	}
	out := make([]byte, 0, ivSize+len(plaintext)+gcm.Overhead())
	out = append(out, iv...)
	out = gcm.Seal(out, iv, []byte(plaintext), []byte(aad))
	return base64.StdEncoding.EncodeToString(out), nil
}
