package notify

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// natsPublish publishes the event JSON to the subject in spec.channel on the NATS server of the address
// (nats://host:port, tls://host:port, or several separated by commas, tried in turn), speaking NATS's
// client protocol: INFO, CONNECT with the Secret's username and password (or the address's user info),
// PUB, then PING answered by PONG once the server has the message. TLS is used when the server or the
// address asks for it, with the certSecretRef's CA and client certificate. The nkey and creds
// (NKEY/JWT) credentials Flux also reads are refused: converge does not sign NATS nonces.
func natsPublish(t target, e Event) ([]request, error) {
	if t.Address == "" {
		return nil, errors.New("nats needs the server URL in spec.address")
	}
	if t.Channel == "" {
		return nil, errors.New("nats needs the subject in spec.channel")
	}
	if strings.ContainsAny(t.Channel, " \t\r\n") {
		return nil, fmt.Errorf("nats: invalid subject %q", t.Channel)
	}
	if len(t.Secret["creds"]) > 0 || len(t.Secret["nkey"]) > 0 {
		return nil, errors.New("nats: nkey and creds credentials in spec.secretRef are not supported by converge; use username and password")
	}
	var servers []*url.URL
	for _, s := range strings.Split(t.Address, ",") {
		s = strings.TrimSpace(s)
		if !strings.Contains(s, "://") {
			s = "nats://" + s
		}
		u, err := url.Parse(s)
		if err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls") {
			return nil, errors.New("nats: the address must be nats://host:port or tls://host:port")
		}
		if u.Port() == "" {
			u.Host = net.JoinHostPort(u.Hostname(), "4222")
		}
		servers = append(servers, u)
	}
	payload, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	r := request{Method: "PUB", URL: t.Address}
	r.transport = func(ctx context.Context) (bool, error) {
		var errs []error
		for _, u := range servers {
			retry, err := natsSend(ctx, u, t, payload)
			if err == nil {
				return false, nil
			}
			if !retry {
				return false, err
			}
			errs = append(errs, err)
		}
		return true, errors.Join(errs...)
	}
	return []request{r}, nil
}

// natsInfo is the part of the server's INFO that the client acts on.
type natsInfo struct {
	TLSRequired  bool `json:"tls_required"`
	AuthRequired bool `json:"auth_required"`
	MaxPayload   int  `json:"max_payload"`
}

// natsSend publishes once on one server; retry is false for answers a second try would repeat (an
// authorization violation, a payload too large).
func natsSend(ctx context.Context, u *url.URL, t target, payload []byte) (retry bool, err error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) {
			return true, fmt.Errorf("error connecting to server: %s: %v", oe.Op, oe.Err)
		}
		return true, fmt.Errorf("error connecting to server: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	rd := bufio.NewReader(conn)
	line, err := natsLine(rd)
	if err != nil {
		return true, fmt.Errorf("error connecting to server: %w", err)
	}
	rest, ok := strings.CutPrefix(line, "INFO ")
	if !ok {
		return true, fmt.Errorf("error connecting to server: expected INFO, got %q", trim(line))
	}
	var info natsInfo
	if err := json.Unmarshal([]byte(rest), &info); err != nil {
		return true, fmt.Errorf("error connecting to server: invalid INFO: %w", err)
	}
	if info.MaxPayload > 0 && len(payload) > info.MaxPayload {
		return false, fmt.Errorf("error publishing message to server: the event (%d bytes) exceeds the server's max_payload %d", len(payload), info.MaxPayload)
	}
	secure := info.TLSRequired || u.Scheme == "tls" || t.TLS != nil
	if secure {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if t.TLS != nil {
			cfg = t.TLS.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = u.Hostname()
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return true, fmt.Errorf("error connecting to server: TLS handshake: %w", err)
		}
		conn = tc
		rd = bufio.NewReader(conn)
	}
	connect := map[string]any{"verbose": false, "pedantic": false, "tls_required": secure, "name": "NATS Provider Publisher",
		"lang": "go", "version": "converge", "protocol": 1}
	user, pass := t.Username, t.Password
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	switch {
	case user != "" && pass != "":
		connect["user"], connect["pass"] = user, pass
	case user != "":
		connect["auth_token"] = user
	}
	hello, _ := json.Marshal(connect)
	msg := fmt.Sprintf("CONNECT %s\r\nPUB %s %d\r\n%s\r\nPING\r\n", hello, t.Channel, len(payload), payload)
	if _, err := conn.Write([]byte(msg)); err != nil {
		return true, fmt.Errorf("error publishing message to server: %w", err)
	}
	for {
		line, err := natsLine(rd)
		if err != nil {
			return true, fmt.Errorf("error publishing message to server: %w", err)
		}
		switch {
		case strings.HasPrefix(line, "PONG"):
			return false, nil
		case strings.HasPrefix(line, "PING"):
			if _, err := conn.Write([]byte("PONG\r\n")); err != nil {
				return true, fmt.Errorf("error publishing message to server: %w", err)
			}
		case strings.HasPrefix(line, "-ERR"):
			msg := trim(strings.TrimPrefix(line, "-ERR"))
			return !strings.Contains(strings.ToLower(msg), "authorization"), fmt.Errorf("error publishing message to server: %s", msg)
		}
		// +OK and a new INFO need no answer.
	}
}

func natsLine(rd *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		chunk, prefix, err := rd.ReadLine()
		if err != nil {
			return "", err
		}
		if b.Len()+len(chunk) > 1<<20 {
			return "", errors.New("protocol line too long")
		}
		b.Write(chunk)
		if !prefix {
			return b.String(), nil
		}
	}
}

func trim(s string) string {
	return strings.Trim(strings.TrimSpace(s), "'")
}
