package manifest

import (
	"bytes"
)

// Document is one YAML document of a multi-document stream.
type Document struct {
	// Index is the document's position among the non-empty documents of the stream, from 0.
	Index int
	// Line is the 1-based line of the stream on which the document's content starts.
	Line int
	// Data is the document's text.
	Data []byte
}

// SplitDocuments splits a YAML stream on document markers ("---" and "..." at the start of a line),
// keeping the line on which each document starts. Documents holding only comments or blanks are dropped.
func SplitDocuments(data []byte) []Document {
	var docs []Document
	start, startLine, line := 0, 1, 1
	flush := func(end int) {
		chunk := data[start:end]
		if hasContent(chunk) {
			docs = append(docs, Document{Index: len(docs), Line: startLine + leadingBlankLines(chunk), Data: chunk})
		}
	}
	for pos := 0; pos < len(data); {
		eol := bytes.IndexByte(data[pos:], '\n')
		next := len(data)
		if eol >= 0 {
			next = pos + eol + 1
		}
		text := bytes.TrimRight(data[pos:next], "\r\n")
		if isMarker(text, "---") || isMarker(text, "...") {
			flush(pos)
			start, startLine = next, line+1
			// "--- {inline}" keeps content on the marker line.
			if rest := bytes.TrimSpace(text[3:]); len(rest) > 0 && rest[0] != '#' && isMarker(text, "---") {
				start, startLine = pos+3, line
			}
		}
		pos = next
		line++
	}
	flush(len(data))
	return docs
}

func isMarker(line []byte, marker string) bool {
	if !bytes.HasPrefix(line, []byte(marker)) {
		return false
	}
	return len(line) == 3 || line[3] == ' ' || line[3] == '\t'
}

func hasContent(chunk []byte) bool {
	for _, l := range bytes.Split(chunk, []byte("\n")) {
		t := bytes.TrimSpace(l)
		if len(t) > 0 && t[0] != '#' {
			return true
		}
	}
	return false
}

func leadingBlankLines(chunk []byte) int {
	n := 0
	for _, l := range bytes.Split(chunk, []byte("\n")) {
		t := bytes.TrimSpace(l)
		if len(t) > 0 && t[0] != '#' {
			return n
		}
		n++
	}
	return n
}
