package main

import (
	"fmt"
	"math"
	"strings"
)

// AWS list prices, ap-northeast-2 (Seoul), USD, first pricing tier, without free tier. Written down
// 2026-11-21 from the public pricing pages as last known here (this machine has no internet): check
// https://aws.amazon.com/{lambda,api-gateway,dynamodb,secrets-manager}/pricing/ before quoting.
const (
	pricesDate = "2026-11-21 (list prices as last published; DynamoDB on-demand after the 2024-11-01 50 % reduction)"

	lambdaArmGBs     = 0.0000133334 // Lambda, Arm, per GB-second (first 7.5 billion GB-s/month)
	lambdaPerRequest = 0.20 / 1e6   // Lambda requests
	httpAPIPerReq    = 1.29 / 1e6   // API Gateway HTTP API, first 300 million/month (Seoul; us-east-1: $1.00)
	ddbPerRRU        = 0.1415 / 1e6 // DynamoDB on-demand read request unit (Seoul: $0.283 before the cut)
	ddbPerWRU        = 0.7068 / 1e6 // DynamoDB on-demand write request unit (Seoul: $1.4135 before the cut)
	smPerCall        = 0.05 / 1e4   // Secrets Manager API calls

	memoryGB = 0.25 // template.yaml: MemorySize 256

	// Secrets Manager amortisation: a link container reads the secret once, then once per TTL
	// while it keeps serving. Plausible: a container that lives 30 min and serves 1 link/s.
	secretTTLMin         = 5.0
	containerLifetimeMin = 30.0
	containerReqPerSec   = 1.0
)

type costLine struct {
	name       string
	billedMs   float64 // billed duration per request
	lambda     float64 // requests + duration, per million
	api        float64
	ddb        float64
	sm         float64
	total      float64
	derivation string
}

// costs computes $ per million calls. statusMs and linkMs are measured warm durations (the
// harness's /next-to-response time of the warm invocation, median), billed rounded up to 1 ms.
func costs(statusMs, linkMs float64) []costLine {
	smCallsPerReq := (1 + math.Floor(containerLifetimeMin/secretTTLMin)) / (containerLifetimeMin * 60 * containerReqPerSec)
	mk := func(name string, measured float64, rru, wru int, smPerReq float64) costLine {
		c := costLine{name: name, billedMs: math.Ceil(measured)}
		if c.billedMs < 1 {
			c.billedMs = 1
		}
		dur := c.billedMs / 1000 * memoryGB * lambdaArmGBs
		c.lambda = (lambdaPerRequest + dur) * 1e6
		c.api = httpAPIPerReq * 1e6
		c.ddb = (float64(rru)*ddbPerRRU + float64(wru)*ddbPerWRU) * 1e6
		c.sm = smPerReq * smPerCall * 1e6
		c.total = c.lambda + c.api + c.ddb + c.sm
		c.derivation = fmt.Sprintf("Lambda $0.20 + %g ms × 0.25 GB × $%.10f/GB-s × 10⁶ = $%.4f; HTTP API $%.2f; DynamoDB %d RRU × $%.4f + %d WRU × $%.4f = $%.4f; Secrets Manager %.5f calls/req × $5/10⁶ calls × 10⁶ = $%.4f",
			c.billedMs, lambdaArmGBs, c.lambda, c.api, rru, ddbPerRRU*1e6, wru, ddbPerWRU*1e6, c.ddb, smPerReq, c.sm)
		return c
	}
	return []costLine{
		mk("status", statusMs, 1, 0, 0),
		mk("link (new link)", linkMs, 1, 4, smCallsPerReq),
	}
}

func costAssumptions(statusMs, linkMs float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "- Prices (ap-northeast-2, USD, first tier, no free tier), as of %s: Lambda Arm $%.10f per GB-s and $0.20 per million requests; "+
		"HTTP API $1.29 per million; DynamoDB on-demand $%.4f per million RRU and $%.4f per million WRU; Secrets Manager $0.05 per 10,000 calls. "+
		"Not re-checked online from this machine: verify on the AWS pricing pages before quoting.\n", pricesDate, lambdaArmGBs, ddbPerRRU*1e6, ddbPerWRU*1e6)
	fmt.Fprintf(&b, "- Duration: the measured warm duration (median of the harness's warm invocations above, against moto_server and the simulator on loopback), rounded up to the next ms as Lambda bills: status %.2f → %g ms, new link %.2f → %g ms; 256 MB (template.yaml). "+
		"On AWS the DynamoDB round trips (a few ms) and the Toss calls over the internet (tens of ms) will be longer: see the sensitivity line.\n",
		statusMs, math.Max(1, math.Ceil(statusMs)), linkMs, math.Max(1, math.Ceil(linkMs)))
	fmt.Fprintf(&b, "- DynamoDB: status = one consistent GetItem of < 4 KB = 1 RRU; a new link = that GetItem + TransactWriteItems of 2 items < 1 KB = 2 × 2 WRU = 4 WRU (a link on a mapped hash is 1 RRU only, no Toss call, no secret).\n")
	fmt.Fprintf(&b, "- Secrets Manager (link only): 1 call per container per TTL (%.0f min), measured above. Assumed container: lives %.0f min serving %.0f link/s → %.0f calls per %.0f requests. Worst case (every link on a fresh container): 1 call per link = $5.00 per million.\n",
		secretTTLMin, containerLifetimeMin, containerReqPerSec, 1+math.Floor(containerLifetimeMin/secretTTLMin), containerLifetimeMin*60*containerReqPerSec)
	b.WriteString("- Not included: CloudWatch Logs ingestion and storage, data transfer, DynamoDB storage and PITR, alarms.\n")
	return b.String()
}
