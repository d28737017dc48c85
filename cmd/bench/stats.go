package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// sample is a set of repeated measurements of one figure.
type sample []float64

// quantile interpolates linearly between the closest ranks (q in [0,1]); NaN when empty.
func (s sample) quantile(q float64) float64 {
	c := slices.Sorted(slices.Values(s))
	if len(c) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(c)-1)
	lo, hi := int(math.Floor(pos)), int(math.Ceil(pos))
	return c[lo] + (c[hi]-c[lo])*(pos-float64(lo))
}

func (s sample) median() float64 { return s.quantile(0.5) }
func (s sample) min() float64    { return s.quantile(0) }
func (s sample) max() float64    { return s.quantile(1) }

// ms converts a duration to float milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fmtCold prints a cold start's init cost and its first response: "2.91 ms (first 4.20 ms, 3.90–8.01)".
func fmtCold(c *coldResult) string {
	return fmt.Sprintf("%s ms (first %s ms, %s–%s)", num(c.initCost()), num(c.first.median()), num(c.first.min()), num(c.first.max()))
}

// fmtUs prints a nanosecond sample as "median (min–max) µs".
func fmtUs(s sample) string {
	return fmt.Sprintf("%s µs (%s–%s)", num(s.median()/1e3), num(s.min()/1e3), num(s.max()/1e3))
}

// num prints a figure with 3 significant digits at most.
func num(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "—"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// ratio prints a ratio as "1.23×".
func ratio(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", r)
}

// mib prints bytes in MiB with two decimals.
func mib(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }
