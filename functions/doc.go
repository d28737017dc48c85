// Package functions holds one folder per Lambda function; its tests check the deployment template against the code.
package functions
