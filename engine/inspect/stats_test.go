package inspect

import "testing"

func TestFormatSize(t *testing.T) {
	for b, want := range map[int64]string{
		0: "-", 1: "1 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 1024*1024 - 1: "1024.0 KiB",
		1024 * 1024: "1.0 MiB", 3481234: "3.3 MiB", 5 << 30: "5.0 GiB", 1 << 62: "4.0 EiB",
	} {
		if got := FormatSize(b); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", b, got, want)
		}
	}
}
