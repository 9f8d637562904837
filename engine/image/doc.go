// Package image implements Flux's image automation: scanning registries for tags (ImageRepository),
// electing the latest image (ImagePolicy), rewriting `$imagepolicy` markers in YAML files, and committing
// and pushing the result to Git (ImageUpdateAutomation). It returns results and never prints.
//
// Not here: the ImageRepository/ImagePolicy/ImageUpdateAutomation schedule (engine/agent) and the
// CLI's one-shot (commands/images); image does one scan or one update per call.
package image
