package agentimage

import (
	"bytes"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// SPDX 2.3 JSON, the subset converge writes.
type spdxDocument struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreationInfo   `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	SPDXID           string            `json:"SPDXID"`
	Name             string            `json:"name"`
	VersionInfo      string            `json:"versionInfo,omitempty"`
	DownloadLocation string            `json:"downloadLocation"`
	FilesAnalyzed    bool              `json:"filesAnalyzed"`
	Checksums        []spdxChecksum    `json:"checksums,omitempty"`
	LicenseConcluded string            `json:"licenseConcluded"`
	LicenseDeclared  string            `json:"licenseDeclared"`
	CopyrightText    string            `json:"copyrightText"`
	Comment          string            `json:"comment,omitempty"`
	ExternalRefs     []spdxExternalRef `json:"externalRefs,omitempty"`
}

type spdxChecksum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

type spdxExternalRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

const noAssertion = "NOASSERTION"

// SBOM returns the SPDX 2.3 JSON document of the binary bin built for platform: the binary itself (with
// its SHA-256), the Go toolchain and every module in its embedded build information.
func SBOM(o Options, platform string, bin []byte) ([]byte, error) {
	info, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		return nil, fmt.Errorf("reading Go build information: %w", err)
	}
	return sbomFromBuildInfo(o, platform, sha256Hex(bin), info)
}

func sbomFromBuildInfo(o Options, platform, binSHA256 string, info *debug.BuildInfo) ([]byte, error) {
	title := o.Title
	if title == "" {
		title = DefaultTitle
	}
	slug := strings.ReplaceAll(platform, "/", "-")
	ns := strings.TrimSuffix(o.Source, "/")
	if ns == "" {
		ns = "https://spdx.org/spdxdocs/" + url.PathEscape(title)
	}
	doc := spdxDocument{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name:              fmt.Sprintf("%s-%s-%s", title, o.Version, slug),
		DocumentNamespace: fmt.Sprintf("%s/sbom/%s/%s/%s", ns, url.PathEscape(o.Version), slug, binSHA256),
		CreationInfo: spdxCreationInfo{
			Created:  o.Created.UTC().Format(time.RFC3339),
			Creators: []string{"Tool: converge-agentimage"},
		},
	}
	license := noAssertion
	if o.Licenses != "" {
		license = o.Licenses
	}
	var settings []string
	for _, s := range info.Settings {
		settings = append(settings, s.Key+"="+s.Value)
	}
	mainID := "SPDXRef-Package-" + spdxIDPart(title)
	doc.Packages = append(doc.Packages, spdxPackage{
		SPDXID: mainID, Name: title, VersionInfo: o.Version,
		DownloadLocation: orNoAssertion(o.Source), LicenseConcluded: license, LicenseDeclared: license,
		CopyrightText: noAssertion,
		Checksums:     []spdxChecksum{{Algorithm: "SHA256", ChecksumValue: binSHA256}},
		Comment:       fmt.Sprintf("The %s binary (%s) built by %s from module %s; build settings: %s", Entrypoint, platform, info.GoVersion, info.Main.Path, strings.Join(settings, " ")),
		ExternalRefs:  []spdxExternalRef{purl(info.Main.Path, o.Version)},
	})
	doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", mainID})
	add := func(id, name, version string, ref spdxExternalRef, comment string) {
		doc.Packages = append(doc.Packages, spdxPackage{
			SPDXID: id, Name: name, VersionInfo: version, DownloadLocation: noAssertion,
			LicenseConcluded: noAssertion, LicenseDeclared: noAssertion, CopyrightText: noAssertion,
			Comment: comment, ExternalRefs: []spdxExternalRef{ref},
		})
		doc.Relationships = append(doc.Relationships, spdxRelationship{mainID, "DEPENDS_ON", id})
	}
	add("SPDXRef-Package-stdlib", "stdlib", info.GoVersion, purl("stdlib", info.GoVersion), "The Go toolchain and standard library the binary was built with.")
	for i, m := range info.Deps {
		if m.Replace != nil {
			m = &debug.Module{Path: m.Replace.Path, Version: m.Replace.Version, Sum: m.Replace.Sum}
		}
		comment := ""
		if m.Sum != "" {
			comment = "go.sum hash " + m.Sum
		}
		add(fmt.Sprintf("SPDXRef-Package-go-%d-%s", i, spdxIDPart(m.Path)), m.Path, m.Version, purl(m.Path, m.Version), comment)
	}
	return json.MarshalIndent(doc, "", "  ")
}

// purl is the package URL of a Go module (or "stdlib") at version.
func purl(path, version string) spdxExternalRef {
	loc := "pkg:golang/" + path
	if version != "" {
		loc += "@" + url.PathEscape(version)
	}
	return spdxExternalRef{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: loc}
}

func orNoAssertion(s string) string {
	if s == "" {
		return noAssertion
	}
	return s
}

// spdxIDPart maps s to the characters an SPDX identifier allows (letters, digits, '.' and '-').
func spdxIDPart(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, s)
}

type inTotoSubject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

type inTotoStatementJSON struct {
	Type          string          `json:"_type"`
	PredicateType string          `json:"predicateType"`
	Subject       []inTotoSubject `json:"subject"`
	Predicate     json.RawMessage `json:"predicate"`
}

// inTotoStatement wraps the SPDX document doc as the predicate of a statement about the image subject.
func inTotoStatement(o Options, platform string, subject v1.Hash, doc []byte) ([]byte, error) {
	title := o.Title
	if title == "" {
		title = DefaultTitle
	}
	return json.Marshal(inTotoStatementJSON{
		Type: inTotoStatementType, PredicateType: SPDXPredicateType,
		Subject: []inTotoSubject{{
			Name:   fmt.Sprintf("pkg:docker/%s@%s?platform=%s", title, url.PathEscape(o.Version), url.QueryEscape(platform)),
			Digest: map[string]string{subject.Algorithm: subject.Hex},
		}},
		Predicate: doc,
	})
}
