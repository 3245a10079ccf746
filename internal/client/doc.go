// Package client is what sends the requests: one request that Go's client
// cannot resend (Send), a real curl, hey's command line and report, a load
// of clients that never resend a request (NeverResend), the stream and
// socket clients of 06-streaming, and the error classes every report
// shares (refused, cut, timeout, other).
package client
