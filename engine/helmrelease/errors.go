package helmrelease

import (
	"regexp"
	"strconv"
)

// templateLocationREs find the template (and line) an error from Helm or the post-rendering names, most
// precise first: Helm's "parse error at (chart/templates/x.yaml:3)" and "execution error at
// (chart/templates/x.yaml:3:12)", Go's "template: chart/templates/x.yaml:3:12:", then errors naming
// only the file.
var templateLocationREs = []*regexp.Regexp{
	regexp.MustCompile(`error (?:at|in) \(([^():\s]+)(?::(\d+))?(?::\d+)?\)`),
	regexp.MustCompile(`template: ([^():\s]+):(\d+)(?::\d+)?:`),
	regexp.MustCompile(`(?:YAML parse error on|parsing|annotating) ([^():\s]+):`),
}

// templateLocation returns the template file and line an error message names, if any.
func templateLocation(msg string) (string, int) {
	for _, re := range templateLocationREs {
		if m := re.FindStringSubmatch(msg); m != nil {
			line := 0
			if len(m) > 2 && m[2] != "" {
				line, _ = strconv.Atoi(m[2])
			}
			return m[1], line
		}
	}
	return "", 0
}
