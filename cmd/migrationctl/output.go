package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// printJSON writes v as one indented JSON document.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// group writes n with thousands separators: 100000 -> 100,000.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func percent(part, whole int64) string {
	if whole == 0 {
		return "n/a"
	}
	return strconv.FormatFloat(100*float64(part)/float64(whole), 'f', 1, 64) + " %"
}

// progress draws one line on stderr while a scan runs, only when stderr is a terminal: a pipe or
// a log file gets nothing. Add is safe from any goroutine.
type progress struct {
	w     io.Writer
	label string
	total int64 // 0 when unknown; an estimate may be passed (marked ~)
	exact bool
	n     atomic.Int64
	start time.Time
	stop  chan struct{}
	done  sync.WaitGroup
}

// newProgress starts drawing when on is true; a nil *progress is valid and draws nothing.
func newProgress(on bool, w io.Writer, label string, total int64, exact bool) *progress {
	if !on {
		return nil
	}
	p := &progress{w: w, label: label, total: total, exact: exact, start: time.Now(), stop: make(chan struct{})}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(150 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				fmt.Fprint(p.w, "\r\033[K")
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
	return p
}

func (p *progress) Add(n int) {
	if p != nil {
		p.n.Add(int64(n))
	}
}

// Finish erases the line.
func (p *progress) Finish() {
	if p == nil {
		return
	}
	close(p.stop)
	p.done.Wait()
}

const barWidth = 24

func (p *progress) draw() {
	n := p.n.Load()
	secs := time.Since(p.start).Seconds()
	rate := ""
	if secs > 0 {
		rate = fmt.Sprintf("  %s/s", group(int64(float64(n)/secs)))
	}
	if p.total <= 0 {
		fmt.Fprintf(p.w, "\r\033[K%s %s%s", p.label, group(n), rate)
		return
	}
	frac := min(float64(n)/float64(p.total), 1)
	filled := int(frac * barWidth)
	bar := strings.Repeat("#", filled) + strings.Repeat(".", barWidth-filled)
	approx := "~"
	if p.exact {
		approx = ""
	}
	fmt.Fprintf(p.w, "\r\033[K%s [%s] %s / %s%s%s", p.label, bar, group(n), approx, group(p.total), rate)
}
