package config

// NATSOverride holds NATS settings given outside the config file, such as
// the command line's connection flags and their DISPATCHER_* variables. An
// empty field leaves the file's value in place.
type NATSOverride struct {
	// URL replaces nats.url; a non-empty one means no embedded server.
	URL string
	// Creds replaces nats.creds.
	Creds string
	// User and Password replace nats.user and nats.password, each on its
	// own.
	User, Password string
	// Token replaces nats.token.
	Token string
	// NKey replaces nats.nkey.
	NKey string
	// TLS replaces nats.tls.ca, nats.tls.cert and nats.tls.key, each on
	// its own.
	TLS NATSTLS
	// SubjectPrefix replaces nats.subject_prefix.
	SubjectPrefix string
}

// Override returns n with the non-empty fields of o in place of its own.
func (n NATS) Override(o NATSOverride) NATS {
	for _, f := range []struct{ over, into *string }{
		{&o.URL, &n.URL}, {&o.Creds, &n.Creds}, {&o.User, &n.User}, {&o.Password, &n.Password},
		{&o.Token, &n.Token}, {&o.NKey, &n.NKey}, {&o.TLS.CA, &n.TLS.CA}, {&o.TLS.Cert, &n.TLS.Cert},
		{&o.TLS.Key, &n.TLS.Key}, {&o.SubjectPrefix, &n.SubjectPrefix},
	} {
		if *f.over != "" {
			*f.into = *f.over
		}
	}
	return n
}

// OverrideNATS applies o to c's nats section and checks the result by the
// rules of the file's nats section (a URL of a known scheme, user and
// password together, certificate and key together, a valid subject
// prefix). A broken rule is an [*Error] naming the nats.* key, matching
// ErrInvalidConfig; c is then left unchanged.
func (c *Config) OverrideNATS(o NATSOverride) error {
	n := c.NATS.Override(o)
	v := &validator{}
	v.nats(&n)
	if len(v.errs) > 0 {
		return &Error{Errors: v.errs}
	}
	c.NATS = n
	return nil
}
