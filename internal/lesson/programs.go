package lesson

// Promise is what a lesson's program promises when it is stopped under
// load: the machinery's verdicts read it, never the program's name.
type Promise struct {
	// Graceful: on SIGTERM it finishes every request it accepted, cuts
	// none, and exits 0. Without it (01-basic) it dies by the signal and
	// cuts the requests in flight.
	Graceful bool
	// HandsOverSocket: on SIGHUP it hands its listening socket to a new
	// binary, which serves on while it finishes its own requests: nothing
	// is refused (04-zero-downtime).
	HandsOverSocket bool
	// LeavesBalancerFirst: at the signal it fails its readiness check and
	// keeps serving until the load balancer has taken it out, then stops
	// accepting: behind HAProxy a rolling restart fails no request and
	// needs no retry (05-load-balancer). A graceful program without it
	// closes its listener while HAProxy still sends it traffic: HAProxy
	// must retry, or its users get 503s.
	LeavesBalancerFirst bool
}

// Promises are the lessons' programs' promises, by folder.
var Promises = map[string]Promise{
	"01-basic":         {},
	"02-graceful":      {Graceful: true},
	"03-workers":       {Graceful: true},
	"04-zero-downtime": {Graceful: true, HandsOverSocket: true},
	"05-load-balancer": {Graceful: true, LeavesBalancerFirst: true},
	"06-streaming":     {Graceful: true},
	"07-durable-jobs":  {Graceful: true},
}
