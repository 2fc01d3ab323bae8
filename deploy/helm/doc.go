// Package helm holds imagepipe's Helm chart (imagepipe/) and the test that
// renders it with both values files and checks the objects against the
// binary: targets, environment variables, probes, ports and autoscaling.
package helm
