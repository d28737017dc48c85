// Command initerror is a test fixture that needs REQUIRED_SETTING. When it is
// missing it reports the failure the way the Runtime API expects, by POSTing
// to /runtime/init/error (aws-lambda-go has no helper for that), and exits.
// Otherwise its handler returns the setting.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

func initError(errorType, message string) {
	body, _ := json.Marshal(map[string]string{"errorMessage": message, "errorType": errorType})
	url := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/init/error"
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Lambda-Runtime-Function-Error-Type", errorType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "initerror: post:", err)
	} else {
		fmt.Fprintln(os.Stderr, "initerror: /init/error answered", resp.Status)
		resp.Body.Close()
	}
	os.Exit(1)
}

func main() {
	setting := os.Getenv("REQUIRED_SETTING")
	if setting == "" {
		initError("Runtime.ConfigError", "REQUIRED_SETTING is not set")
	}
	lambda.Start(func() (string, error) { return setting, nil })
}
