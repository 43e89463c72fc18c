package worker

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
)

func TestErrorText(t *testing.T) {
	secretURL := "http://user:pass-S1@h.example.com/in?token=tok-S2/x"
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"url.Error: the URL goes", &url.Error{Op: "Post", URL: secretURL, Err: refused}, refused.Error()},
		{"wrapped url.Error: the wrapper stays", fmt.Errorf("build request: %w", &url.Error{Op: "parse", URL: secretURL, Err: errors.New(`invalid URL escape "%zz"`)}),
			`build request: invalid URL escape "%zz"`},
		{"no url.Error", errors.New("body: illegal base64 data at input byte 4"), "body: illegal base64 data at input byte 4"},
		{"cut to 512 bytes", errors.New(strings.Repeat("x", 600)), strings.Repeat("x", 512)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorText(tt.err)
			if got != tt.want {
				t.Errorf("errorText = %q, want %q", got, tt.want)
			}
			for _, s := range []string{"user", "pass-S1", "tok-S2"} {
				if strings.Contains(got, s) {
					t.Errorf("errorText = %q: holds %q", got, s)
				}
			}
		})
	}
}
