package main

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/aws/smithy-go"

	"github.com/tossgame/migration-server/shared/apperr"
)

// credentialsError is a credential chain that produced nothing usable.
type credentialsError struct{ err error }

func (e *credentialsError) Error() string {
	return "no usable AWS credentials (set AWS_PROFILE, run `aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY): " + e.err.Error()
}

func (e *credentialsError) Unwrap() error { return e.err }

// Error codes AWS answers when the credentials themselves are wrong or lack a permission.
var (
	badCredentials = map[string]bool{
		"UnrecognizedClientException": true, "InvalidClientTokenId": true, "InvalidSignatureException": true,
		"SignatureDoesNotMatch": true, "ExpiredToken": true, "ExpiredTokenException": true,
		"InvalidAccessKeyId": true, "IncompleteSignature": true, "MissingAuthenticationToken": true,
	}
	denied = map[string]bool{"AccessDenied": true, "AccessDeniedException": true, "UnauthorizedOperation": true}
)

// explain turns an error into the one line an operator needs: what is wrong, without the SDK's
// request ids and retry chatter.
func explain(err error) string {
	var input *apperr.InputError
	if errors.As(err, &input) {
		return input.Msg
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		op := ""
		var oe *smithy.OperationError
		if errors.As(err, &oe) {
			op = oe.Service() + " " + oe.Operation()
		}
		switch {
		case badCredentials[code]:
			return fmt.Sprintf("AWS rejected the credentials (%s on %s: %s): check AWS_PROFILE, the keys and the region", code, op, api.ErrorMessage())
		case denied[code]:
			return fmt.Sprintf("AWS denied %s (%s): the caller needs the stack's OperatorPolicyArn policy", op, api.ErrorMessage())
		}
		return fmt.Sprintf("%s: %s: %s", errContext(err), code, api.ErrorMessage())
	}
	var netErr *net.OpError
	if errors.As(err, &netErr) {
		return fmt.Sprintf("%s: cannot reach %s: %v", errContext(err), netErr.Addr, netErr.Err)
	}
	return err.Error()
}

// errContext is an error's own prefix, before the SDK's operation error.
func errContext(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "operation error "); i > 0 {
		msg = strings.TrimRight(msg[:i], ": ")
		return strings.TrimSuffix(msg, ": "+apperr.ErrUnavailable.Error())
	}
	var oe *smithy.OperationError
	if errors.As(err, &oe) {
		return oe.Service() + " " + oe.Operation()
	}
	return "AWS"
}

// isCode reports whether err is an AWS API error with that code.
func isCode(err error, code string) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == code
}
