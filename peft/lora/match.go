package lora

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// This file decides, exactly as PEFT's check_target_module_exists and
// get_pattern_key do, which modules a Config adapts and with which rank and
// alpha.

// patternRegexp compiles a rank_pattern / alpha_pattern key the way PEFT's
// get_pattern_key uses it: re.match(rf"(.*\.)?({key})$", name), i.e. the key
// (a regex) must match the whole name or a dotted suffix of it.
func patternRegexp(key string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:.*\.)?(?:` + key + `)$`)
}

// fullMatch is Python's re.fullmatch.
func fullMatch(pattern, s string) (bool, error) {
	re, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		return false, err
	}
	return re.MatchString(s), nil
}

// suffixMatch is PEFT's list rule: name equals t or ends with "."+t.
func suffixMatch(name, t string) bool {
	return name == t || strings.HasSuffix(name, "."+t)
}

var anyLayerIndex = regexp.MustCompile(`^.*\.[^.]*\.(\d+)\.`)

// layerIndex extracts the block index of name as PEFT does: the number after
// the last ".<pattern>." (any word when patterns is empty) that is followed
// by a dot.
func layerIndex(name string, patterns []string) (int, bool) {
	var m []string
	if len(patterns) == 0 {
		m = anyLayerIndex.FindStringSubmatch(name)
	} else {
		for _, p := range patterns {
			re, err := regexp.Compile(`^.*\.` + p + `\.(\d+)\.`)
			if err != nil {
				continue
			}
			if m = re.FindStringSubmatch(name); m != nil {
				break
			}
		}
	}
	if m == nil {
		return 0, false
	}
	i, err := strconv.Atoi(m[1])
	return i, err == nil
}

// excluded reports whether name is removed by exclude_modules or lies in
// (or is) a module of modules_to_save, which PEFT never adapts.
func (c *Config) excluded(name string) bool {
	ex := c.ExcludeModules
	switch {
	case ex.IsRegex && ex.Regex != "":
		if ok, _ := fullMatch(ex.Regex, name); ok {
			return true
		}
	case !ex.IsRegex:
		for _, t := range ex.Names {
			if suffixMatch(name, t) {
				return true
			}
		}
	}
	for _, m := range c.ModulesToSave {
		if ok, _ := regexp.MatchString(`^(?:|.*\.)`+regexp.QuoteMeta(m)+`(?:$|\..*)`, name); ok {
			return true
		}
	}
	return false
}

// matches reports whether the module name is a target of c (before
// exclusion), and which list entry matched (for "matched nothing" errors).
// linear and head describe the module for "all-linear".
func (c *Config) matches(name string, linear, head bool) (bool, string) {
	t := c.TargetModules
	if t.IsRegex {
		if strings.EqualFold(t.Regex, AllLinear) {
			return linear && !head && c.layerAllowed(name), AllLinear
		}
		ok, _ := fullMatch(t.Regex, name)
		return ok, t.Regex
	}
	for _, n := range t.Names {
		if n == name { // named in full: layers_to_transform does not apply
			return true, n
		}
	}
	for _, n := range t.Names {
		if strings.HasSuffix(name, "."+n) {
			return c.layerAllowed(name), n
		}
	}
	return false, ""
}

// layerAllowed applies layers_to_transform / layers_pattern.
func (c *Config) layerAllowed(name string) bool {
	if len(c.LayersToTransform) == 0 {
		return true
	}
	i, ok := layerIndex(name, c.LayersPattern)
	if !ok {
		return false
	}
	for _, l := range c.LayersToTransform {
		if l == i {
			return true
		}
	}
	return false
}

// rankAlpha returns r and alpha for the module name, applying rank_pattern
// and alpha_pattern. Keys are tried in sorted order: PEFT tries them in dict
// order, and PEFT writes adapter_config.json with sorted keys, so for any
// config read from a file the two agree.
func (c *Config) rankAlpha(name string) (int, float64) {
	r, alpha := c.R, c.LoraAlpha
	if k, ok := firstPattern(sortedKeys(c.RankPattern), name); ok {
		r = c.RankPattern[k]
	}
	if k, ok := firstPattern(sortedKeys(c.AlphaPattern), name); ok {
		alpha = c.AlphaPattern[k]
	}
	return r, alpha
}

func firstPattern(keys []string, name string) (string, bool) {
	for _, k := range keys {
		re, err := patternRegexp(k)
		if err == nil && re.MatchString(name) {
			return k, true
		}
	}
	return "", false
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// describeTargets renders target_modules for error messages.
func (c *Config) describeTargets() string {
	if c.TargetModules.IsRegex {
		return fmt.Sprintf("%q", c.TargetModules.Regex)
	}
	return fmt.Sprintf("%q", c.TargetModules.Names)
}
