// Package temporal runs shepherd rollouts on Temporal.
package temporal
