package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the config file at path and parses it with Parse, expanding
// ${VAR} references from the process environment.
//
// An error reading the file matches ErrConfigFile and wraps the error of the
// os package (so errors.Is(err, fs.ErrNotExist) works). An error in the
// file's content is an [*Error] matching ErrInvalidConfig, returned
// unwrapped; it does not repeat the path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfigFile, err)
	}
	return Parse(data, os.LookupEnv)
}

// Parse decodes, merges and validates the YAML config in data. lookupEnv
// supplies the values of ${VAR} references; nil means an empty environment,
// where every reference is an error.
//
// Parse reports every problem it finds, as an [*Error] matching
// ErrInvalidConfig. An empty file is invalid: at least one target is
// required.
func Parse(data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	if lookupEnv == nil {
		lookupEnv = noEnv
	}
	root, err := parseYAML(data)
	if err != nil {
		return nil, &Error{Errors: []FieldError{{Msg: err.Error()}}}
	}
	if root != nil && !isNull(root) && deref(root).Kind != yaml.MappingNode {
		return nil, &Error{Errors: []FieldError{{Msg: "the config must be a YAML mapping, got " + describe(deref(root))}}}
	}
	d := newDecoder(lookupEnv)
	dec := d.config(root)
	errs := append(d.errs, validate(dec, d.set)...)
	if len(errs) > 0 {
		return nil, &Error{Errors: errs}
	}
	resolve(&dec.cfg)
	return &dec.cfg, nil
}

// parseYAML parses the single YAML document in data. It returns a nil node
// for an empty document.
func parseYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlError(err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, yamlError(err)
		}
		return nil, errors.New("invalid YAML: the file holds more than one document")
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		return doc.Content[0], nil
	}
	return nil, nil
}

// yamlError rewords a syntax error of the YAML library.
func yamlError(err error) error {
	return errors.New("invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: "))
}
