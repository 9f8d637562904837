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
	return writeFluxTable(w, header, rows)
}

// WriteFluxRows writes rows as WriteFluxTable without a header (Flux's --no-header): the columns are as
// wide as their widest cell.
func WriteFluxRows(w io.Writer, rows [][]string) error {
	return writeFluxTable(w, nil, rows)
}

func writeFluxTable(w io.Writer, header []string, rows [][]string) error {
	n := len(header)
	for _, r := range rows {
		n = max(n, len(r))
	}
	widths := make([]int, n)
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
	if header != nil {
		b.WriteString("\n")
	}
	for _, r := range rows {
		for i, c := range r {
			b.WriteString(pad(c, widths[i]) + "\t")
		}
		b.WriteString("\n")
	}
	_, err := fmt.Fprint(w, b.String())
	return err
}
