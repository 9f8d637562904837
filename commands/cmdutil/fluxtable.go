package cmdutil

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// WriteFluxTable writes rows as Flux's CLI tables are laid out: upper-case headers, every cell padded to
// its column's width and followed by a tab (the header's last cell by a space).
func WriteFluxTable(w io.Writer, header []string, rows [][]string) error {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = utf8.RuneCountInString(h)
	}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	pad := func(s string, n int) string { return s + strings.Repeat(" ", n-utf8.RuneCountInString(s)) }
	var b strings.Builder
	for i, h := range header {
		sep := "\t"
		if i == len(header)-1 {
			sep = " "
		}
		b.WriteString(pad(strings.ToUpper(h), widths[i]) + sep)
	}
	b.WriteString("\n")
	for _, r := range rows {
		for i, c := range r {
			b.WriteString(pad(c, widths[i]) + "\t")
		}
		b.WriteString("\n")
	}
	_, err := fmt.Fprint(w, b.String())
	return err
}
