package cloud

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// AWSCredentials are an access key, with a session token for temporary credentials.
type AWSCredentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Expires is zero for long-lived keys.
	Expires time.Time
	// Source names where they came from: "environment", "web identity", "container", "IMDS".
	Source string
}

// AWSRegion is AWS_REGION, else AWS_DEFAULT_REGION.
func (i *Identity) AWSRegion() string {
	i = i.orDefault()
	if r := i.env.getenv("AWS_REGION"); r != "" {
		return r
	}
	return i.env.getenv("AWS_DEFAULT_REGION")
}

// AWSCredentials walks the AWS SDK's default chain as it runs in a Pod: static keys from
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN); IRSA's AWS_ROLE_ARN with
// AWS_WEB_IDENTITY_TOKEN_FILE through STS AssumeRoleWithWebIdentity in region; EKS Pod Identity or ECS
// (AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI with AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]);
// then the EC2 instance metadata service (IMDSv2) unless AWS_EC2_METADATA_DISABLED=true. An empty
// region means AWSRegion. Temporary credentials are cached until five minutes before they expire.
func (i *Identity) AWSCredentials(ctx context.Context, region string) (AWSCredentials, error) {
	i = i.orDefault()
	e := i.env
	if id, secret := e.getenv("AWS_ACCESS_KEY_ID"), e.getenv("AWS_SECRET_ACCESS_KEY"); id != "" || secret != "" {
		if id == "" || secret == "" {
			return AWSCredentials{}, errors.New("AWS credentials from the environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set")
		}
		return AWSCredentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: e.getenv("AWS_SESSION_TOKEN"), Source: "environment"}, nil
	}
	if region == "" {
		region = i.AWSRegion()
	}
	if role, file := e.getenv("AWS_ROLE_ARN"), e.getenv("AWS_WEB_IDENTITY_TOKEN_FILE"); role != "" && file != "" {
		return cachedValue(i, "aws/web-identity/"+role+"/"+region, func() (AWSCredentials, time.Time, error) {
			c, err := i.assumeRoleWithWebIdentity(ctx, region, role, file)
			return c, c.Expires, err
		})
	}
	if full, rel := e.getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"), e.getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); full != "" || rel != "" {
		return cachedValue(i, "aws/container", func() (AWSCredentials, time.Time, error) {
			c, err := i.containerCredentials(ctx, full, rel)
			return c, c.Expires, err
		})
	}
	if strings.EqualFold(e.getenv("AWS_EC2_METADATA_DISABLED"), "true") {
		return AWSCredentials{}, errors.New("no AWS credentials: none of AWS_ACCESS_KEY_ID, AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE (IRSA), " +
			"AWS_CONTAINER_CREDENTIALS_FULL_URI (EKS Pod Identity) is set, and AWS_EC2_METADATA_DISABLED=true")
	}
	return cachedValue(i, "aws/imds", func() (AWSCredentials, time.Time, error) {
		c, err := i.imdsCredentials(ctx)
		if err != nil {
			err = fmt.Errorf("no AWS credentials: none of AWS_ACCESS_KEY_ID, AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE (IRSA), "+
				"AWS_CONTAINER_CREDENTIALS_FULL_URI (EKS Pod Identity) is set, and the instance metadata service failed: %w", err)
		}
		return c, c.Expires, err
	})
}

// awsEndpoint is the endpoint of service (its SDK id, e.g. "STS", "ECR", "KMS") in region:
// AWS_ENDPOINT_URL_<ID>, else AWS_ENDPOINT_URL, else https://<host>.<region>.amazonaws.com[.cn].
func (e Env) awsEndpoint(id, host, region string) string {
	if u := e.getenv("AWS_ENDPOINT_URL_" + strings.ReplaceAll(strings.ToUpper(id), "-", "_")); u != "" {
		return u
	}
	if u := e.getenv("AWS_ENDPOINT_URL"); u != "" {
		return u
	}
	if region == "" {
		return "https://" + host + ".amazonaws.com"
	}
	suffix := "amazonaws.com"
	if strings.HasPrefix(region, "cn-") {
		suffix = "amazonaws.com.cn"
	}
	return "https://" + host + "." + region + "." + suffix
}

func (i *Identity) assumeRoleWithWebIdentity(ctx context.Context, region, role, file string) (AWSCredentials, error) {
	e := i.env
	what := "STS AssumeRoleWithWebIdentity for " + role
	token, err := e.readFile(file)
	if err != nil {
		return AWSCredentials{}, fmt.Errorf("%s: reading AWS_WEB_IDENTITY_TOKEN_FILE: %w", what, err)
	}
	session := e.getenv("AWS_ROLE_SESSION_NAME")
	if session == "" {
		session = "converge-" + strconv.FormatInt(e.now().UnixNano(), 10)
	}
	form := url.Values{
		"Action":           {"AssumeRoleWithWebIdentity"},
		"Version":          {"2011-06-15"},
		"RoleArn":          {role},
		"RoleSessionName":  {session},
		"WebIdentityToken": {strings.TrimSpace(string(token))},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.awsEndpoint("STS", "sts", region), strings.NewReader(form.Encode()))
	if err != nil {
		return AWSCredentials{}, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	body, err := e.do(req, what)
	if err != nil {
		return AWSCredentials{}, err
	}
	var out struct {
		Result struct {
			Credentials struct {
				AccessKeyID     string `xml:"AccessKeyId"`
				SecretAccessKey string `xml:"SecretAccessKey"`
				SessionToken    string `xml:"SessionToken"`
				Expiration      string `xml:"Expiration"`
			} `xml:"Credentials"`
		} `xml:"AssumeRoleWithWebIdentityResult"`
	}
	if err := xml.Unmarshal(body, &out); err != nil {
		return AWSCredentials{}, fmt.Errorf("%s: decoding the answer: %w", what, err)
	}
	c := out.Result.Credentials
	return awsTemporary(what, c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.Expiration, "web identity")
}

func awsTemporary(what, id, secret, token, expiration, source string) (AWSCredentials, error) {
	if id == "" || secret == "" {
		return AWSCredentials{}, fmt.Errorf("%s: the answer has no access key", what)
	}
	exp, err := time.Parse(time.RFC3339, expiration)
	if err != nil {
		return AWSCredentials{}, fmt.Errorf("%s: expiration %q: %w", what, expiration, err)
	}
	return AWSCredentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token, Expires: exp, Source: source}, nil
}

// awsCredentialsJSON is the answer of the container and instance metadata credential endpoints.
type awsCredentialsJSON struct {
	Code            string
	Message         string
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string
	Token           string
	Expiration      string
}

func (i *Identity) containerCredentials(ctx context.Context, full, rel string) (AWSCredentials, error) {
	e := i.env
	endpoint := full
	if endpoint == "" {
		endpoint = "http://169.254.170.2" + rel
	}
	what := "AWS container credentials from " + endpoint
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return AWSCredentials{}, fmt.Errorf("%s: %w", what, err)
	}
	authz := e.getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")
	if f := e.getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"); f != "" {
		b, err := e.readFile(f)
		if err != nil {
			return AWSCredentials{}, fmt.Errorf("%s: reading AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: %w", what, err)
		}
		authz = strings.TrimSpace(string(b))
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	body, err := e.do(req, what)
	if err != nil {
		return AWSCredentials{}, err
	}
	var c awsCredentialsJSON
	if err := json.Unmarshal(body, &c); err != nil {
		return AWSCredentials{}, fmt.Errorf("%s: decoding the answer: %w", what, err)
	}
	return awsTemporary(what, c.AccessKeyID, c.SecretAccessKey, c.Token, c.Expiration, "container")
}

func (i *Identity) imdsCredentials(ctx context.Context) (AWSCredentials, error) {
	ctx, cancel := context.WithTimeout(ctx, metadataTimeout)
	defer cancel()
	e := i.env
	base := strings.TrimSuffix(e.getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT"), "/")
	if base == "" {
		base = "http://169.254.169.254"
	}
	what := "IMDS " + base
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+"/latest/api/token", nil)
	if err != nil {
		return AWSCredentials{}, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
	token, err := e.do(req, what+" session token")
	if err != nil {
		return AWSCredentials{}, err
	}
	get := func(p string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+p, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		req.Header.Set("X-Aws-Ec2-Metadata-Token", string(token))
		return e.do(req, what+" "+p)
	}
	const path = "/latest/meta-data/iam/security-credentials/"
	roles, err := get(path)
	if err != nil {
		return AWSCredentials{}, err
	}
	role, _, _ := strings.Cut(strings.TrimSpace(string(roles)), "\n")
	if role == "" {
		return AWSCredentials{}, fmt.Errorf("%s: the instance has no IAM role", what)
	}
	body, err := get(path + role)
	if err != nil {
		return AWSCredentials{}, err
	}
	var c awsCredentialsJSON
	if err := json.Unmarshal(body, &c); err != nil {
		return AWSCredentials{}, fmt.Errorf("%s: decoding the credentials: %w", what, err)
	}
	if c.Code != "" && c.Code != "Success" {
		return AWSCredentials{}, fmt.Errorf("%s: role %s: %s: %s", what, role, c.Code, c.Message)
	}
	return awsTemporary(what, c.AccessKeyID, c.SecretAccessKey, c.Token, c.Expiration, "IMDS")
}

// awsJSON calls an AWS JSON-protocol API (ECR, KMS): a signed POST of in to the service's endpoint
// with X-Amz-Target target; the answer is decoded into out.
func (i *Identity) awsJSON(ctx context.Context, creds AWSCredentials, endpoint, region, signingName, target string, in, out any) error {
	what := "AWS " + target
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(string(body)))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	SignV4(req, body, creds, region, signingName, i.env.now())
	answer, err := i.env.do(req, what)
	if err != nil {
		var herr *HTTPError
		if errors.As(err, &herr) {
			var ae struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if json.Unmarshal([]byte(herr.Body), &ae) == nil && ae.Type != "" {
				_, typ, _ := strings.Cut(ae.Type, "#")
				if typ == "" {
					typ = ae.Type
				}
				herr.Body = typ + ": " + ae.Message
			}
		}
		return err
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("%s: decoding the answer: %w", what, err)
	}
	return nil
}
