package main

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// sample is a set of repeated measurements of one figure.
type sample []float64

func (s sample) sorted() []float64 {
	c := slices.Clone([]float64(s))
	slices.Sort(c)
	return c
}

// quantile interpolates linearly between the closest ranks (q in [0,1]); NaN when empty.
func (s sample) quantile(q float64) float64 {
	c := s.sorted()
	if len(c) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(c)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return c[lo] + (c[hi]-c[lo])*(pos-float64(lo))
}

func (s sample) median() float64 { return s.quantile(0.5) }
func (s sample) p25() float64    { return s.quantile(0.25) }
func (s sample) p75() float64    { return s.quantile(0.75) }

func (s sample) min() float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	return slices.Min(s)
}

func (s sample) max() float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	return slices.Max(s)
}

// ms converts a duration to float milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fmtMs prints "median (p25–p75) ms".
func fmtMs(s sample) string {
	if len(s) == 0 {
		return "—"
	}
	return fmt.Sprintf("%s ms (%s–%s)", num(s.median()), num(s.p25()), num(s.p75()))
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

// ratio prints a/b as "1.23×".
func ratio(a, b float64) string {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// mib prints bytes in MiB with two decimals.
func mib(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }

// fmtNs prints a nanosecond figure as µs with its min–max spread.
func fmtNs(s sample) string {
	if len(s) == 0 {
		return "—"
	}
	return fmt.Sprintf("%s µs (%s–%s)", num(s.median()/1e3), num(s.min()/1e3), num(s.max()/1e3))
}
