// Package haproxy runs the real HAProxy of 05-load-balancer's lesson: the
// generated configuration, haproxy in the foreground as a child, its
// runtime API (servers' state, show stat) and its HTTP log.
package haproxy
