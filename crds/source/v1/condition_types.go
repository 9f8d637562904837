package v1

// SourceFinalizer is the finalizer the source controller puts on every source object.
const SourceFinalizer = "finalizers.fluxcd.io"

// Condition types specific to source kinds.
const (
	// ArtifactInStorageCondition is True once the artifact has been written to storage.
	ArtifactInStorageCondition string = "ArtifactInStorage"

	// ArtifactOutdatedCondition (abnormal-true) marks the stored artifact as stale.
	ArtifactOutdatedCondition string = "ArtifactOutdated"

	// SourceVerifiedCondition reports the result of signature verification, when enabled.
	SourceVerifiedCondition string = "SourceVerified"

	// FetchFailedCondition (abnormal-true) reports a failure to fetch from upstream.
	FetchFailedCondition string = "FetchFailed"

	// BuildFailedCondition (abnormal-true) reports a failure to build the artifact.
	BuildFailedCondition string = "BuildFailed"

	// StorageOperationFailedCondition (abnormal-true) reports a failed storage/filesystem operation.
	StorageOperationFailedCondition string = "StorageOperationFailed"
)

// Condition reasons specific to source kinds.
const (
	// URLInvalidReason: the source URL cannot be used.
	URLInvalidReason string = "URLInvalid"

	// AuthenticationFailedReason: credentials are missing, malformed or rejected.
	AuthenticationFailedReason string = "AuthenticationFailed"

	// VerificationError: signature verification failed.
	VerificationError string = "VerificationError"

	// DirCreationFailedReason: a directory could not be created.
	DirCreationFailedReason string = "DirectoryCreationFailed"

	// StatOperationFailedReason: a stat on a path failed.
	StatOperationFailedReason string = "StatOperationFailed"

	// ReadOperationFailedReason: a read failed.
	ReadOperationFailedReason string = "ReadOperationFailed"

	// AcquireLockFailedReason: a lock could not be taken.
	AcquireLockFailedReason string = "AcquireLockFailed"

	// InvalidPathReason: a path is not valid.
	InvalidPathReason string = "InvalidPath"

	// ArchiveOperationFailedReason: creating or extracting an archive failed.
	ArchiveOperationFailedReason string = "ArchiveOperationFailed"

	// SymlinkUpdateFailedReason: updating the "latest" symlink failed.
	SymlinkUpdateFailedReason string = "SymlinkUpdateFailed"

	// ArtifactUpToDateReason: the stored artifact already matches upstream.
	ArtifactUpToDateReason string = "ArtifactUpToDate"

	// CacheOperationFailedReason: a cache operation failed.
	CacheOperationFailedReason string = "CacheOperationFailed"

	// PatchOperationFailedReason: patching an API object failed.
	PatchOperationFailedReason string = "PatchOperationFailed"

	// InvalidSTSConfigurationReason: the Bucket STS settings are not valid.
	InvalidSTSConfigurationReason string = "InvalidSTSConfiguration"

	// InvalidProviderConfigurationReason: the provider settings are not valid.
	InvalidProviderConfigurationReason string = "InvalidProviderConfiguration"
)
