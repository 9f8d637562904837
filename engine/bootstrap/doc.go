// Package bootstrap installs converge so that the cluster manages itself, converge included, from a Git
// repository: it commits converge's manifests and the sync objects under <path>/flux-system, pushes them,
// applies them with the credentials Secret, and waits for the agent to sync. Running it again changes
// nothing when nothing changed.
//
// Not here: the agent's manifests (engine/install), applying and waiting (engine/apply,
// engine/health); bootstrap sequences them around a commit.
package bootstrap
