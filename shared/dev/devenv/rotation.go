package devenv

import (
	"time"

	"github.com/tossgame/migration-server/shared/secrets"
)

// ClientPair issues another mTLS pair the simulator accepts (as the console issues a second
// certificate for a rotation), valid from notBefore to notAfter.
func (s *Stack) ClientPair(notBefore, notAfter time.Time) (secrets.PairJSON, error) {
	cert, key, err := s.CA.IssueValid("partner-client", nil, true, notBefore, notAfter)
	if err != nil {
		return secrets.PairJSON{}, err
	}
	return secrets.PairJSON{Certificate: string(cert), PrivateKey: string(key)}, nil
}
