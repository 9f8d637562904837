package v2

const (
	// InventoryBuildFailedReason: the list of objects in the release could not be computed.
	InventoryBuildFailedReason string = "InventoryBuildFailed"

	// NamespaceCheckSkippedReason: the namespace scope of some objects could not be determined.
	NamespaceCheckSkippedReason string = "NamespaceCheckSkipped"
)

// ResourceInventory lists the objects a release applied.
type ResourceInventory struct {
	// Entries are the applied objects.
	Entries []ResourceRef `json:"entries"`
}

// ResourceRef locates one applied object.
type ResourceRef struct {
	// ID is the object's identity, "<namespace>_<name>_<group>_<kind>".
	ID string `json:"id"`

	// Version is the API version of the object.
	Version string `json:"v"`
}
