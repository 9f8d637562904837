// Package notify sends the engine's events to the notification services the cluster's Alerts and
// Providers (notification.toolkit.fluxcd.io/v1beta3) name, with the payload each service documents,
// as Flux's notification-controller does.
//
// Not here: building the events (engine/events) and watching Alerts and Providers (engine/agent).
package notify
