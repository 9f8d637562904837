package cmdutil

import (
	"fmt"
	"io"
)

// PrintWarnings writes each warning (unsupported fields in use, objects converge validated with less
// than the cluster's schema, converted API versions) as a warning line.
func PrintWarnings(w io.Writer, st Styles, warnings []string) {
	for _, warning := range warnings {
		fmt.Fprintln(w, st.WarningLine(warning))
	}
}
