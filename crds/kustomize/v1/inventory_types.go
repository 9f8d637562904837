package v1

// ResourceInventory lists the objects a reconciliation applied.
type ResourceInventory struct {
	// Entries are the applied objects.
	Entries []ResourceRef `json:"entries"`
}

// ResourceRef locates one applied object.
type ResourceRef struct {
	// ID is the object's identity, "<namespace>_<name>_<group>_<kind>".
	ID string `json:"id"`

	// Version is the API version the object was applied with.
	Version string `json:"v"`
}
