package v1

// Security Token Service providers usable in Bucket.spec.sts.provider.
const (
	// STSProviderAmazon fetches temporary credentials from an AWS STS endpoint.
	STSProviderAmazon string = "aws"
	// STSProviderLDAP fetches temporary credentials from an LDAP-backed STS endpoint.
	STSProviderLDAP string = "ldap"
)
