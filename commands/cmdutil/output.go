package cmdutil

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// Output formats for commands whose output is data.
const (
	OutputTable = "table"
	OutputYAML  = "yaml"
	OutputJSON  = "json"
)

// AddOutputFlag adds -o/--output with the given formats, the first one the default.
func AddOutputFlag(cmd *cobra.Command, target *string, formats ...string) {
	cmd.Flags().StringVarP(target, "output", "o", formats[0], fmt.Sprintf("output format, one of %v", formats))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp))
}

// ValidateOutput returns a usage error unless format is one of formats.
func ValidateOutput(format string, formats ...string) error {
	for _, f := range formats {
		if f == format {
			return nil
		}
	}
	return FlagErrorf("unknown output format %q, want one of %v", format, formats)
}

// WriteData writes v as JSON or YAML.
func WriteData(w io.Writer, format string, v any) error {
	switch format {
	case OutputJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	case OutputYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("format %q is not a data format", format)
}
