package image

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"

	imagev1 "github.com/converge-gitops/converge/crds/image/v1"
)

// ErrNoTag is returned when no tag satisfies a policy.
var ErrNoTag = errors.New("no tag matches the policy")

// Policy elects the latest tag among a repository's tags, as Flux's image-reflector-controller does.
type Policy struct {
	order   func(candidates []string) (string, error)
	filter  *regexp.Regexp
	extract string
}

// NewPolicy validates spec's ordering rule and tag filter.
func NewPolicy(spec imagev1.ImagePolicySpec) (*Policy, error) {
	p := &Policy{}
	choice := spec.Policy
	n := 0
	for _, set := range []bool{choice.SemVer != nil, choice.Alphabetical != nil, choice.Numerical != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, fmt.Errorf("spec.policy must set exactly one of semver, alphabetical and numerical (%d set)", n)
	}
	switch {
	case choice.SemVer != nil:
		c, err := semver.NewConstraint(choice.SemVer.Range)
		if err != nil {
			return nil, fmt.Errorf("spec.policy.semver.range %q: %w", choice.SemVer.Range, err)
		}
		p.order = func(tags []string) (string, error) { return latestSemver(c, tags) }
	case choice.Alphabetical != nil:
		order, err := orderOf(choice.Alphabetical.Order, "alphabetical")
		if err != nil {
			return nil, err
		}
		p.order = func(tags []string) (string, error) { return latestAlphabetical(order, tags), nil }
	case choice.Numerical != nil:
		order, err := orderOf(choice.Numerical.Order, "numerical")
		if err != nil {
			return nil, err
		}
		p.order = func(tags []string) (string, error) { return latestNumerical(order, tags) }
	}
	if f := spec.FilterTags; f != nil && f.Pattern != "" {
		re, err := regexp.Compile(f.Pattern)
		if err != nil {
			return nil, fmt.Errorf("spec.filterTags.pattern %q: %w", f.Pattern, err)
		}
		p.filter, p.extract = re, f.Extract
	}
	return p, nil
}

func orderOf(order, policy string) (string, error) {
	switch strings.ToLower(order) {
	case "", imagev1.OrderAscending:
		return imagev1.OrderAscending, nil
	case imagev1.OrderDescending:
		return imagev1.OrderDescending, nil
	}
	return "", fmt.Errorf("spec.policy.%s.order %q: must be asc or desc", policy, order)
}

// Latest returns the elected tag (as it is in the registry, before any extraction); ErrNoTag (wrapped)
// when none qualifies.
func (p *Policy) Latest(tags []string) (string, error) {
	candidates := tags
	original := map[string]string{}
	if p.filter != nil {
		candidates = nil
		for _, t := range tags {
			m := p.filter.FindStringSubmatchIndex(t)
			if m == nil {
				continue
			}
			key := t
			if p.extract != "" {
				key = string(p.filter.ExpandString(nil, p.extract, t, m))
			}
			if _, dup := original[key]; !dup {
				candidates = append(candidates, key)
			}
			original[key] = t // as Flux: the last tag extracting to a value wins
		}
	}
	if len(candidates) == 0 {
		if len(tags) == 0 {
			return "", fmt.Errorf("%w: the repository has no tags", ErrNoTag)
		}
		return "", fmt.Errorf("%w: none of the %d tags matches filterTags.pattern %q", ErrNoTag, len(tags), p.filter.String())
	}
	latest, err := p.order(candidates)
	if err != nil {
		return "", err
	}
	if o, ok := original[latest]; ok {
		return o, nil
	}
	return latest, nil
}

// parseSemver parses as Flux does: strict semver, with an optional leading "v".
func parseSemver(s string) (*semver.Version, bool) {
	if _, err := semver.StrictNewVersion(strings.TrimPrefix(s, "v")); err != nil {
		return nil, false
	}
	v, err := semver.NewVersion(s)
	return v, err == nil
}

// latestSemver returns the highest version within c; prereleases only qualify when the range names a
// prerelease (Masterminds' rule). Of equal versions ("1.0.0" and "v1.0.0") the first in tags wins.
func latestSemver(c *semver.Constraints, tags []string) (string, error) {
	var best *semver.Version
	for _, t := range tags {
		v, ok := parseSemver(t)
		if !ok || !c.Check(v) {
			continue
		}
		if best == nil || v.GreaterThan(best) {
			best = v
		}
	}
	if best == nil {
		return "", fmt.Errorf("%w: no semver tag within range %q among %d tags", ErrNoTag, c.String(), len(tags))
	}
	return best.Original(), nil
}

// latestAlphabetical returns the last tag in ascending order for asc, the first for desc.
func latestAlphabetical(order string, tags []string) string {
	if order == imagev1.OrderDescending {
		return slices.Min(tags)
	}
	return slices.Max(tags)
}

// latestNumerical returns the largest number for asc, the smallest for desc; every tag must be a number.
func latestNumerical(order string, tags []string) (string, error) {
	var latest string
	var best float64
	for i, t := range tags {
		v, err := strconv.ParseFloat(t, 64)
		if err != nil {
			return "", fmt.Errorf("numerical policy: tag %q is not a number (use filterTags to keep only numeric tags)", t)
		}
		if i == 0 || (order == imagev1.OrderAscending && v >= best) || (order == imagev1.OrderDescending && v <= best) {
			latest, best = t, v
		}
	}
	return latest, nil
}
